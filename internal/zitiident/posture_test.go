package zitiident_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/edge/posture"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// The SDK evaluates posture on every dial, and its default OS provider runs /usr/bin/lsb_release
// wherever there is no /etc/lsb-release. Dials through zitiident must not run it.
func TestDialsDoNotRunLsbRelease(t *testing.T) {
	runs := countLsbRelease(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	zc, share := echoShare(ctx, t)
	// The first dial fetches the service and a session; only later dials are counted.
	if err := echo(ctx, zc, share); err != nil {
		t.Fatal(err)
	}

	before := runs()
	const dials = 50
	for range dials {
		if err := echo(ctx, zc, share); err != nil {
			t.Fatal(err)
		}
	}
	if n := runs() - before; n != 0 {
		t.Fatalf("%d dials ran lsb_release %d times, want 0", dials, n)
	}
}

// countLsbRelease returns a counter of the lsb_release runs that this process starts from now
// on. Debian's lsb_release sources the file named by $LSB_OS_RELEASE, so a file there that
// appends a line counts the runs. It skips the test where the SDK's default OS provider runs no
// lsb_release that it can count, since there is then nothing to prove.
func countLsbRelease(t *testing.T) func() int {
	t.Helper()
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "os-release")
	if err := os.WriteFile(script, fmt.Appendf(nil, "echo run >> '%s'\n", count), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LSB_OS_RELEASE", script)
	runs := func() int {
		b, err := os.ReadFile(count)
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(b, []byte("\n"))
	}
	posture.DefaultOsProvider{}.GetOsInfo()
	if runs() == 0 {
		t.Skip("the SDK's default OS provider runs no countable lsb_release here (an /etc/lsb-release, or no Debian /usr/bin/lsb_release)")
	}
	return runs
}

// echoShare creates a share service that a new environment identity binds and frontends dial,
// serves it with a one-byte echo, and returns an authenticated frontend context and the service.
func echoShare(ctx context.Context, tb testing.TB) (ziti.Context, string) {
	tb.Helper()
	envID, envFile := identity(ctx, tb, "env", zitiauto.RoleEnvironment)
	_, feFile := identity(ctx, tb, "fe", zitiauto.RoleFrontend)
	share := fmt.Sprintf("zp%d", time.Now().UnixNano())
	if _, err := admin.CreateShareService(ctx, share, []string{"@" + envID}, []string{"#" + zitiauto.RoleFrontend}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = admin.DeleteShareService(context.Background(), share) })
	ln, err := zitiident.Listen(ctx, authenticated(tb, envFile), share, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				b := make([]byte, 1)
				if _, err := io.ReadFull(conn, b); err == nil {
					_, _ = conn.Write(b)
				}
			}()
		}
	}()
	return authenticated(tb, feFile), share
}

// echo dials share, sends one byte and reads it back.
func echo(ctx context.Context, zc ziti.Context, share string) error {
	conn, err := zitiident.Dial(ctx, zc, share, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte{'x'}); err != nil {
		return err
	}
	// A fixed-size read, not a read to EOF, which can wait ~30 s after a Ziti close.
	_, err = io.ReadFull(conn, make([]byte, 1))
	return err
}

// BenchmarkDial reports new overlay connections per second through one context, each a dial, a
// byte each way and a close: one at a time, and from 8 goroutines per CPU.
func BenchmarkDial(b *testing.B) {
	ctx := b.Context()
	zc, share := echoShare(ctx, b)
	if err := echo(ctx, zc, share); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for range b.N {
			if err := echo(ctx, zc, share); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dials/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := echo(ctx, zc, share); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dials/s")
	})
}
