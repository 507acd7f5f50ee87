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
	// What a user sharing a project folder rarely means to publish.
	os.WriteFile(filepath.Join(dir, ".env"), []byte("DB_PASSWORD=hunter2"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("[remote \"origin\"]\n\turl = https://user:token@example.com/repo.git\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "docs", ".secret"), []byte("nested secret"), 0o644)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("root:x:0:0"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("docs", filepath.Join(dir, "inside")) // a relative symlink within the share is fine

	ag := startCLIAgent(t, home, "share", "public", dir, "--backend-mode", "web")
	wantWithin(t, 10*time.Second, "the web share to answer", wantStatus(ag.host, 200))
	want := func(host, path string, code int, body string) {
		t.Helper()
		got, gotBody, err := get(host, path)
		if err != nil || got != code || (body != "" && !strings.Contains(gotBody, body)) {
			t.Errorf("GET %s = %d %.200q %v, want %d with %q", path, got, gotBody, err, code, body)
		}
	}
	want(ag.host, "/", 200, "<h1>portico web</h1>")
	want(ag.host, "/docs/notes.txt", 200, "some notes")
	want(ag.host, "/inside/notes.txt", 200, "some notes")
	for _, path := range []string{"/.env", "/.git/config", "/docs/.secret", "/%2eenv", "/etc/passwd", "/etc/", "/docs/"} {
		if code, body, _ := get(ag.host, path); code != 404 || strings.Contains(body, "hunter2") || strings.Contains(body, "token") || strings.Contains(body, "root:x") {
			t.Errorf("GET %s by default = %d %.200q, want 404", path, code, body)
		}
	}
	ag.stop(t)

	// Each default can be turned off; a listing still hides what is hidden.
	browse := startCLIAgent(t, home, "share", "public", dir, "--backend-mode", "web", "--browse")
	wantWithin(t, 10*time.Second, "the browsable web share to answer", wantStatus(browse.host, 200))
	if code, body, _ := get(browse.host, "/docs/"); code != 200 || !strings.Contains(body, "notes.txt") || strings.Contains(body, ".secret") {
		t.Errorf("browsing /docs/ = %d, want a listing with notes.txt and without .secret:\n%.300s", code, body)
	}
	browse.stop(t)
	open := startCLIAgent(t, home, "share", "public", dir, "--backend-mode", "web", "--show-hidden", "--follow-symlinks")
	wantWithin(t, 10*time.Second, "the open web share to answer", wantStatus(open.host, 200))
	want(open.host, "/.env", 200, "hunter2")
	want(open.host, "/etc/passwd", 200, "root:x")
	open.stop(t)
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
