package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The options go under the edge listener's options and into a new edge dialer, and a config
// without an edge listener is refused rather than left untuned.
func TestTuneZitiRouter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router.yaml")
	cfg := "v: 3\nlisteners:\n  - binding: edge\n    address: tls:0.0.0.0:3022\n    options:\n      advertise: 127.0.0.1:3022\n  - binding: tunnel\n    options:\n      mode: host\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := TuneZitiRouter(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "    options:\n      txPortalStartSize: 2097152\n      txPortalMaxSize: 2097152\n      rxBufferSize: 16777216\n      advertise: 127.0.0.1:3022\n"
	if !strings.Contains(string(b), want) {
		t.Errorf("edge listener options not extended:\n%s", b)
	}
	if !strings.HasSuffix(string(b), "\ndialers:\n  - binding: edge\n    options:\n      txPortalStartSize: 2097152\n      txPortalMaxSize: 2097152\n      rxBufferSize: 16777216\n") {
		t.Errorf("no edge dialer with the options:\n%s", b)
	}
	if err := TuneZitiRouter(path); err == nil {
		t.Error("tuning a tuned config again: no error")
	}
	if err := os.WriteFile(path, []byte("v: 3\nlisteners:\n  - binding: tunnel\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := TuneZitiRouter(path); err == nil {
		t.Error("a config without an edge listener: no error")
	}
}
