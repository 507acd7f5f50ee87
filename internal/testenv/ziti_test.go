package testenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZitiBinaryFromEnv(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ziti")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTICO_ZITI_BIN", bin)
	if got, err := ZitiBinary(); err != nil || got != bin {
		t.Fatalf("ZitiBinary() = %q, %v; want %q", got, err, bin)
	}
	t.Setenv("PORTICO_ZITI_BIN", filepath.Join(t.TempDir(), "missing"))
	if _, err := ZitiBinary(); err == nil {
		t.Fatal("ZitiBinary() found a missing PORTICO_ZITI_BIN")
	}
}

func TestZitiBinaryMissingSaysHowToBuild(t *testing.T) {
	t.Setenv("PORTICO_ZITI_BIN", "")
	t.Setenv("PORTICO_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	_, err := ZitiBinary()
	if err == nil || !strings.Contains(err.Error(), "scripts/ziti-build.sh") {
		t.Fatalf("ZitiBinary() error = %v; want a hint to run scripts/ziti-build.sh", err)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < portLow || p > portHigh || seen[p] {
			t.Fatalf("ports %v are not distinct and below the ephemeral range", ports)
		}
		seen[p] = true
	}
}

// StartZiti brings up a network whose API answers, and Stop takes it all down again.
func TestStartStopZiti(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ziti network")
	}
	_, err := ZitiBinary()
	Require(t, "OpenZiti (ziti binary)", err)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	z, err := StartZiti(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Stop()
	t.Logf("ziti ready in %s at %s", time.Since(start).Round(time.Millisecond), z.ManagementURL)
	if !z.routerOnline(ctx) {
		t.Error("router not online after StartZiti returned")
	}
	// The router that runs is the tuned one: it logs the options it loaded.
	b, _ := os.ReadFile(z.LogFile)
	if !strings.Contains(string(b), `rxBufferSize=16777216`) || !strings.Contains(string(b), "txPortalMaxSize=2097152") {
		t.Error("the router did not load the options of deploy/ziti-router-xgress.yml")
	}

	start = time.Now()
	z.Stop()
	t.Logf("ziti stopped in %s", time.Since(start).Round(time.Millisecond))
	for _, p := range []int{z.CtrlPort, z.RouterPort} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still answers after Stop", p)
		}
	}
}

// A network that dies on its own is reported with its crash; one that Stop
// ends is not. A stand-in script plays the ziti binary.
func TestZitiExitedReportsACrash(t *testing.T) {
	fake := func(body string) *Ziti {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "ziti")
		script := "#!/bin/sh\necho 'controller and router started.'\n" + body
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PORTICO_ZITI_BIN", bin)
		t.Setenv("PORTICO_ZITI_ROUTER_TUNING", "off") // the stand-in writes no router config
		z, err := StartZiti(t.Context(), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(z.Stop)
		return z
	}

	crashing := fake("sleep 1\necho 'unexpected fault address 0x7f42785c41ac'\necho 'fatal error: fault'\necho 'goroutine 1207 [running]:'\nexit 2\n")
	if err := crashing.Exited(); err != nil {
		t.Fatalf("Exited() = %v while it runs", err)
	}
	<-crashing.exited
	err := crashing.Exited()
	if err == nil || !strings.Contains(err.Error(), "fatal error: fault") || !strings.Contains(err.Error(), "goroutine 1207") {
		t.Fatalf("Exited() = %v; want the crash from the log", err)
	}

	stopped := fake("exec sleep 60\n")
	stopped.Stop()
	if err := stopped.Exited(); err != nil {
		t.Fatalf("Exited() = %v after Stop", err)
	}
}
