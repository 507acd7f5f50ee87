package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestListModules builds the binary and checks that it carries every
// Portico module.
func TestListModules(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	for _, id := range []string{
		"portico",
		"http.handlers.portico_share",
		"http.reverse_proxy.upstreams.portico",
		"http.reverse_proxy.transport.portico",
		"tls.permission.portico",
		"admin.api.portico",
		"caddy.storage.portico_postgres",
	} {
		if !strings.Contains("\n"+string(out), "\n"+id+"\n") {
			t.Errorf("list-modules lacks %s", id)
		}
	}
}
