// Package testenv starts and finds the real services that Portico's tests run against.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// inCI reports whether the tests run in CI, where a missing service is a failure, not a skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// Require fails (in CI) or skips (elsewhere) the test when err says that service is unavailable.
func Require(tb testing.TB, service string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if inCI() {
		tb.Fatalf("%s is required in CI but unavailable: %v", service, err)
	}
	tb.Skipf("SKIPPING: %s is unavailable: %v", service, err)
}

// RequireMain is Require for TestMain. In CI it prints err and exits with status 1; elsewhere
// it prints a loud SKIPPING line and returns true, so TestMain can return without running tests.
func RequireMain(service string, err error) (skip bool) {
	if err == nil {
		return false
	}
	if inCI() {
		fmt.Fprintf(os.Stderr, "FAIL: %s is required in CI but unavailable: %v\n", service, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "\n*** SKIPPING all tests of this package: %s is unavailable: %v ***\n\n", service, err)
	return true
}
