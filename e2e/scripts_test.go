package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// scripts/cluster.sh brings up the cluster the README describes: the demo
// share answers through its load balancer and through each of the three
// frontend instances, and still through the balancer with one instance
// gone; `cluster.sh stop` takes it all down.
func TestClusterScript(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	id := fmt.Sprint(time.Now().UnixNano() % 1e9)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(repo, "scripts", "cluster.sh"), args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PORTICO_CLUSTER_DIR="+state, "CLUSTER_DB=portico_script_"+id, "CLUSTER_VHOST=portico-script-"+id)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	t.Cleanup(func() {
		run("stop")
		exec.Command("psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", "DROP DATABASE IF EXISTS portico_script_"+id+" WITH (FORCE)").Run()
		exec.Command("rabbitmqctl", "-q", "delete_vhost", "portico-script-"+id).Run()
		exec.Command("rabbitmqctl", "-q", "delete_user", "portico-script-"+id+"-frontend").Run()
	})
	if err != nil {
		t.Fatalf("scripts/cluster.sh: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`curl (http://\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cluster.sh printed no curl line:\n%s", out)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	host := u.Hostname()
	demo := func(addr string) func() error {
		return func() error {
			code, body, err := getThrough(addr, host, "/")
			if err == nil && (code != 200 || !strings.Contains(body, "Hello from a service shared through Portico!")) {
				err = fmt.Errorf("%s: %d %q", addr, code, body)
			}
			return err
		}
	}
	for _, addr := range []string{"127.0.0.1:8180", "127.0.0.1:8181", "127.0.0.1:8182", "127.0.0.1:8183"} {
		wantWithin(t, 10*time.Second, "the demo share through "+addr, demo(addr))
	}
	// Each instance follows the broker with the script's consume-only user.
	// The file that keeps the frontends' secrets is this user's alone.
	for _, name := range []string{"one", "two"} {
		if fi, err := os.Stat(filepath.Join(state, "frontend-"+name+".txt")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("frontend %s's secret file: %v %v, want mode 0600", name, err, fi)
		}
	}
	// Their admin endpoints are unix sockets only this user may open.
	for _, name := range []string{"1a", "1b", "2"} {
		admin := "unix/" + filepath.Join(state, "frontend-"+name+"-admin.sock")
		if fi, err := os.Stat(admin[len("unix/"):]); err != nil {
			t.Errorf("frontend-%s's admin socket: %v", name, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("frontend-%s's admin socket has mode %v; want 0600", name, fi.Mode().Perm())
		}
		wantWithin(t, 10*time.Second, "the broker consumer of frontend-"+name, func() error {
			var st []frontendStatus
			if err := adminJSON(admin, "/portico/status", &st); err != nil {
				return err
			}
			if len(st) != 1 || st[0].Broker == nil || !st[0].Broker.Connected {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
	}
	// Again with every instance's idle connections to the agent gone.
	for i, name := range []string{"1a", "1b", "2"} {
		f := &clusterFrontend{caddyfile: filepath.Join(state, "frontend-"+name+".caddyfile"),
			adminAddr: "unix/" + filepath.Join(state, "frontend-"+name+"-admin.sock"), httpAddr: fmt.Sprintf("127.0.0.1:%d", 8181+i)}
		f.Name = "frontend-" + name
		f.closeIdleConns(t)
		for range 5 {
			if err := demo(f.httpAddr)(); err != nil {
				t.Fatalf("on new overlay dials through %s: %v", f.Name, err)
			}
		}
	}
	pid, err := os.ReadFile(filepath.Join(state, "frontend-1a.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("kill", strings.TrimSpace(string(pid))).Run(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // the balancer skips the dead instance
		if err := demo("127.0.0.1:8180")(); err != nil {
			t.Fatalf("request %d through the balancer with frontend-1a gone: %v", i, err)
		}
	}
	if out, err := run("stop"); err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("cluster.sh stop: %v\n%s", err, out)
	}
	if err := demo("127.0.0.1:8180")(); err == nil {
		t.Fatal("the balancer still answers after cluster.sh stop")
	}
}
