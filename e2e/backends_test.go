package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWebBackendServesADirectory(t *testing.T) {
	_, home := account(t, "web")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>portico web</h1>"), 0o644)
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "docs", "notes.txt"), []byte("some notes"), 0o644)

	ag := startCLIAgent(t, home, "share", "public", dir, "--backend-mode", "web")
	wantWithin(t, 10*time.Second, "the web share to answer", wantStatus(ag.host, 200))
	if code, body, err := get(ag.host, "/"); err != nil || code != 200 || body != "<h1>portico web</h1>" {
		t.Errorf("GET / = %d %q %v, want the index file", code, body, err)
	}
	if code, body, err := get(ag.host, "/docs/notes.txt"); err != nil || code != 200 || body != "some notes" {
		t.Errorf("GET /docs/notes.txt = %d %q %v", code, body, err)
	}
	if code, body, err := get(ag.host, "/docs/"); err != nil || code != 200 || !strings.Contains(body, "notes.txt") {
		t.Errorf("browsing /docs/ = %d %v, want a listing with notes.txt:\n%.300s", code, err, body)
	}
	ag.stop(t)

	// With browse off, a directory without an index is not listed.
	closed := startCLIAgent(t, home, "share", "public", dir, "--backend-mode", "web", "--browse=false")
	wantWithin(t, 10*time.Second, "the unbrowsable web share to answer", wantStatus(closed.host, 200))
	if code, body, _ := get(closed.host, "/docs/"); code != 404 || strings.Contains(body, "notes.txt") {
		t.Errorf("GET /docs/ with browse off = %d %q, want 404 and no listing", code, body)
	}
	closed.stop(t)
}

func TestCaddyBackendServesTheUsersCaddyfile(t *testing.T) {
	_, home := account(t, "caddyfile")
	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	os.WriteFile(caddyfile, []byte(`http:// {
	header X-Served-By "my caddyfile"
	respond /hello "hello from my Caddyfile"
	respond 418
}
`), 0o644)
	ag := startCLIAgent(t, home, "share", "public", caddyfile, "--backend-mode", "caddy")
	wantWithin(t, 10*time.Second, "the caddy share to answer", wantStatus(ag.host, 418))
	resp, err := frontendClient.Get("http://" + ag.host + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != "my caddyfile" {
		t.Errorf("GET /hello = %d %v, want 200 with the Caddyfile's header", resp.StatusCode, resp.Header)
	}
	ag.stop(t)
}

func TestBackendModeBadInput(t *testing.T) {
	_, home := account(t, "badbackend")
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	os.WriteFile(file, []byte("x"), 0o644)
	twoSites := filepath.Join(dir, "Caddyfile")
	os.WriteFile(twoSites, []byte("http://a.localhost {\n\trespond a\n}\nhttp://b.localhost:8081 {\n\trespond b\n}\n"), 0o644)
	broken := filepath.Join(dir, "Broken")
	os.WriteFile(broken, []byte("http:// {\n\tnot_a_directive\n}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"share", "public", filepath.Join(dir, "missing"), "--backend-mode", "web"}, "no such file or directory"},
		{[]string{"share", "public", file, "--backend-mode", "web"}, "is not a directory"},
		{[]string{"share", "public", filepath.Join(dir, "missing"), "--backend-mode", "caddy"}, "no such file or directory"},
		{[]string{"share", "public", twoSites, "--backend-mode", "caddy"}, "defines 2 HTTP servers"},
		{[]string{"share", "public", broken, "--backend-mode", "caddy"}, "not_a_directive"},
		{[]string{"share", "public", dir, "--backend-mode", "ftp"}, `--backend-mode "ftp"`},
	} {
		out, err := cli(t, home, tt.args...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("portico %s: %v, want a failure saying %q:\n%s", strings.Join(tt.args, " "), err, tt.want, out)
		}
	}
	if ls := mustCLI(t, home, "ls"); strings.Count(ls, "\n") > 1 {
		t.Errorf("bad backends made shares:\n%s", ls)
	}
}
