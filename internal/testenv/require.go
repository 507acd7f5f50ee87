// Package testenv starts and finds the real services that Portico's tests run against.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SkipMissing is the variable that lets a run outside CI skip the tests whose service is
// missing, instead of failing them.
const SkipMissing = "PORTICO_SKIP_MISSING"

// mayskip reports whether a missing service may skip tests: only when asked for with
// PORTICO_SKIP_MISSING=1, and never in CI (CI=true), where a missing service is a failure.
func mayskip() bool { return os.Getenv(SkipMissing) == "1" && os.Getenv("CI") != "true" }

// Require fails the test when err says that service is unavailable, or skips it when
// PORTICO_SKIP_MISSING=1 allows that outside CI.
func Require(tb testing.TB, service string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if !mayskip() {
		tb.Fatalf("%s is required but unavailable: %v (scripts/services.sh starts the local services; %s=1 skips these tests outside CI)", service, err, SkipMissing)
		return
	}
	tb.Skipf("SKIPPING: %s is unavailable: %v", service, err)
}

// RequireMain is Require for TestMain. Unless skipping is allowed it prints err and exits with
// status 1; when it is, it prints a loud SKIPPING line and returns true, so TestMain can return
// without running tests.
func RequireMain(service string, err error) (skip bool) {
	if err == nil {
		return false
	}
	if !mayskip() {
		fmt.Fprintf(os.Stderr, "FAIL: %s is required but unavailable: %v (%s=1 skips these tests outside CI)\n", service, err, SkipMissing)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "\n*** SKIPPING all tests of this package: %s is unavailable: %v ***\n\n", service, err)
	return true
}

// MainWithZiti is the body of a TestMain whose tests share one OpenZiti
// network: it starts the network in a temporary directory, calls setup with
// it (setup may return a teardown, or nil), runs the tests and stops
// everything. Without a ziti binary it fails in CI and skips elsewhere. It
// returns the exit code for os.Exit.
func MainWithZiti(m *testing.M, name string, setup func(ctx context.Context, z *Ziti, dir string) (teardown func(), err error)) int {
	if _, err := ZitiBinary(); RequireMain("OpenZiti (ziti binary)", err) {
		return 0
	}
	dir, err := os.MkdirTemp("", "portico-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	z, err := StartZiti(ctx, filepath.Join(dir, "ziti"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting ziti:", err)
		return 1
	}
	defer z.Stop()
	teardown, err := setup(ctx, z, dir)
	if teardown != nil {
		defer teardown()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s test setup: %v\n", name, err)
		return 1
	}
	code := m.Run()
	if err := z.Exited(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: the OpenZiti network went away during the tests: %v\n", name, err)
		return 1
	}
	return code
}
