package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The controller speaks the wire types of package mapping; Caddy, and the
// frontend's route table that needs it, belong to frontends alone.
func TestControllerLinksNoCaddy(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/caddyserver/") || strings.HasPrefix(pkg, "github.com/quic-go/") || pkg == "github.com/porticoproxy/portico/internal/routes" {
			t.Errorf("the controller links %s", pkg)
		}
	}
}
