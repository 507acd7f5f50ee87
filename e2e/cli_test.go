package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/apiclient"
)

// The reaper takes a crashed agent out of a reserved name's rotation, but the
// name itself outlives reap_after (8 s here) and serves again with a new agent.
func TestReaperKeepsAReservedNameWhoseAgentCrashed(t *testing.T) {
	acct, home := account(t, "reapname")
	name := uniqueName("keep")
	host := name + "." + namespace
	mustCLI(t, home, "reserve", name)
	ag := startCLIAgent(t, home, "share", "reserved", name, newBackend(t).URL)
	wantWithin(t, 10*time.Second, "the reserved name to answer", wantStatus(host, http.StatusOK))
	sh, err := apiclient.New(stack.apiURL, acct.Token).ShareByName(context.Background(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	if agents := shareAgents(t, sh.Token); len(agents) != 1 {
		t.Fatalf("agents in the rotation %v, want the one agent", agents)
	}
	ag.cmd.Process.Kill() // no chance to leave the rotation
	<-ag.done
	wantWithin(t, 20*time.Second, "the reaper to take the crashed agent out of the rotation", func() error {
		if agents := shareAgents(t, sh.Token); len(agents) != 0 {
			return fmt.Errorf("agents %v", agents)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // more reaper rounds: the name itself must stay
	code, body, err := get(host, "/")
	if err != nil || code != http.StatusBadGateway || !strings.Contains(body, "offline") {
		t.Fatalf("after reap_after the name answered %d %q %v, want 502 offline (a name, not a 404)", code, body, err)
	}
	if ls := mustCLI(t, home, "ls"); !regexp.MustCompile(name + `\s+public\s+true`).MatchString(ls) {
		t.Fatalf("ls no longer lists the reserved name:\n%s", ls)
	}
	again := startCLIAgent(t, home, "share", "reserved", name, newBackend(t).URL)
	wantWithin(t, 10*time.Second, "a new agent to serve the name", wantStatus(host, http.StatusOK))
	again.stop(t)
}

// shareAgents reads the agents in a share's rotation from the controller's store.
func shareAgents(t *testing.T, share string) []string {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(stack.dir, "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	agents, err := st.Agents(context.Background(), share)
	if err != nil {
		t.Fatal(err)
	}
	return agents
}

// disable deletes the environment's shares on the controller and its
// identity on this machine; afterwards the CLI says it is not enabled.
func TestDisableRemovesTheEnvironment(t *testing.T) {
	_, home := account(t, "disable")
	ag := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the share to answer", wantStatus(ag.host, http.StatusOK))
	out := mustCLI(t, home, "disable")
	if !strings.Contains(out, "Disabled environment") {
		t.Fatalf("disable printed %q", out)
	}
	wantWithin(t, 5*time.Second, "the environment's share to be gone", wantStatus(ag.host, http.StatusNotFound))
	if _, err := os.Stat(filepath.Join(home, "identity.json")); !os.IsNotExist(err) {
		t.Fatalf("the identity is still on disk: %v", err)
	}
	if out, err := cli(t, home, "ls"); err == nil || !strings.Contains(out, "enable") {
		t.Fatalf("ls after disable: %v\n%s", err, out)
	}
	if out, err := cli(t, home, "disable"); err == nil {
		t.Fatalf("a second disable succeeded:\n%s", out)
	}
}

// A target with a certificate the agent cannot verify fails with a clear 502
// until --insecure says to accept it.
func TestInsecureTarget(t *testing.T) {
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello over tls"))
	}))
	t.Cleanup(backend.Close)
	_, home := account(t, "insecure")

	strict := startAgent(t, home, backend.URL)
	wantWithin(t, 5*time.Second, "the share to refuse the self-signed target", func() error {
		code, body, err := get(strict.host, "/")
		if err == nil && (code != http.StatusBadGateway || !strings.Contains(body, "is not answering")) {
			t.Fatalf("without --insecure: %d %q, want 502 from the agent", code, body)
		}
		return err
	})
	strict.stop(t)

	lax := startAgent(t, home, backend.URL, "--insecure")
	wantWithin(t, 5*time.Second, "the share to reach the self-signed target", func() error {
		code, body, err := get(lax.host, "/")
		if err == nil && (code != http.StatusOK || body != "hello over tls") {
			t.Fatalf("with --insecure: %d %q", code, body)
		}
		return err
	})
	lax.stop(t)
}

// The admin commands do what their help says, and refuse what they must.
func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	admin := func(args ...string) (string, error) {
		return cli(t, dir, append([]string{"admin", "--api", stack.apiURL, "--admin-token", stack.adminToken}, args...)...)
	}
	mustAdmin := func(args ...string) string {
		t.Helper()
		out, err := admin(args...)
		if err != nil {
			t.Fatalf("portico admin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	field := func(out, key string) string {
		m := regexp.MustCompile(`(?m)^` + key + `: (\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in:\n%s", key, out)
		}
		return m[1]
	}

	email := uniqueName("admin") + "@e2e.localhost"
	tok := field(mustAdmin("create", "account", email), "token")
	if out, err := admin("create", "account", email); err == nil || !strings.Contains(out, "409") {
		t.Errorf("creating an account twice: %v\n%s", err, out)
	}
	// The printed token is the account's: it enables a machine.
	home := t.TempDir()
	if out, err := cli(t, home, "enable", tok, "--api", stack.apiURL); err != nil {
		t.Fatalf("enable with the new account's token: %v\n%s", err, out)
	}

	ns := uniqueName("adm") + ".localhost"
	mustAdmin("create", "namespace", ns, "--closed") // closed, so other tests' accounts keep one namespace
	if out, err := admin("create", "namespace", ns); err == nil || !strings.Contains(out, "409") {
		t.Errorf("creating a namespace twice: %v\n%s", err, out)
	}
	if out, err := admin("create", "namespace", "not a name"); err == nil || !strings.Contains(out, "400") {
		t.Errorf("creating a malformed namespace: %v\n%s", err, out)
	}
	if !strings.Contains(mustAdmin("ls", "namespaces"), ns) {
		t.Errorf("ls namespaces does not list %s", ns)
	}

	idFile := filepath.Join(dir, "fe.json")
	out := mustAdmin("create", "frontend", "--url-template", "https://{host}", "--identity-out", idFile)
	fe := field(out, "frontend")
	if fi, err := os.Stat(idFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the frontend identity file: %v, mode %v; want 0600", err, fi.Mode())
	}
	if b, _ := os.ReadFile(idFile); !strings.Contains(string(b), "PRIVATE KEY") {
		t.Errorf("the identity file holds no key")
	}
	if out, err := admin("map", "no-such-frontend", ns); err == nil || !strings.Contains(out, "404") {
		t.Errorf("mapping an unknown frontend: %v\n%s", err, out)
	}
	mustAdmin("map", fe, ns)
	if ls := mustAdmin("ls", "frontends"); !regexp.MustCompile(fe + `.*` + regexp.QuoteMeta(ns)).MatchString(ls) {
		t.Errorf("ls frontends does not show %s serving %s:\n%s", fe, ns, ls)
	}
	if out := mustAdmin("grant", ns, email); out == "" {
		t.Errorf("grant printed nothing")
	}
	if ls := mustAdmin("controllers"); !strings.Contains(ls, stack.ctrl.APIAddr()) {
		t.Errorf("controllers does not list %s:\n%s", stack.ctrl.APIAddr(), ls)
	}
	if ls := mustAdmin("frontends"); !strings.Contains(ls, stack.frontend) {
		t.Errorf("frontends does not list the running instance of %s:\n%s", stack.frontend, ls)
	}

	// A wrong admin token changes nothing and says why.
	out, err := cli(t, dir, "admin", "--api", stack.apiURL, "--admin-token", "wrong-admin-token-0123", "create", "namespace", "x"+ns)
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "admin token") {
		t.Errorf("a wrong admin token: %v\n%s", err, out)
	}
	if strings.Contains(mustAdmin("ls", "namespaces"), "x"+ns) {
		t.Errorf("a refused call created its namespace")
	}
}

// Secrets given as arguments are visible to every user in the process list;
// each can come from a file, standard input or the environment instead.
func TestSecretsStayOffTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, env []string, args ...string) (string, error) {
		cmd := exec.Command(stack.portico, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The admin token from a file and from standard input.
	adminFile := write("admin-token", stack.adminToken+"\n")
	out, err := run("", nil, "admin", "--api", stack.apiURL, "--admin-token-file", adminFile, "create", "account", uniqueName("file")+"@e2e.localhost")
	tok := regexp.MustCompile(`(?m)^token: (\S+)$`).FindStringSubmatch(out)
	if err != nil || tok == nil {
		t.Fatalf("admin with --admin-token-file: %v\n%s", err, out)
	}
	if out, err := run(stack.adminToken, nil, "admin", "--api", stack.apiURL, "--admin-token-file", "-", "ls", "namespaces"); err != nil {
		t.Errorf("admin with the token on standard input: %v\n%s", err, out)
	}
	for _, tt := range []struct{ file, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{write("empty", "\n"), "is empty"},
	} {
		if out, err := run("", nil, "admin", "--api", stack.apiURL, "--admin-token-file", tt.file, "ls", "namespaces"); err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("--admin-token-file %s: %v, want an error saying %q\n%s", tt.file, err, tt.want, out)
		}
	}

	// The account token from standard input and from the environment.
	stdinHome, envHome := t.TempDir(), t.TempDir()
	if out, err := run(tok[1]+"\n", nil, "enable", "-", "--api", stack.apiURL, "--home", stdinHome); err != nil {
		t.Fatalf("enable - with the token on standard input: %v\n%s", err, out)
	}
	acct, _ := stack.admin.CreateAccount(context.Background(), uniqueName("env")+"@e2e.localhost")
	if out, err := run("", []string{"PORTICO_ACCOUNT_TOKEN=" + acct.Token}, "enable", "--api", stack.apiURL, "--home", envHome); err != nil {
		t.Fatalf("enable with PORTICO_ACCOUNT_TOKEN: %v\n%s", err, out)
	}
	if out, err := run("", []string{"PORTICO_ACCOUNT_TOKEN="}, "enable", "--api", stack.apiURL, "--home", t.TempDir()); err == nil || !strings.Contains(out, "the account token is required") {
		t.Errorf("enable without a token: %v\n%s", err, out)
	}

	// Basic-auth users from a file: the running agent's command line holds
	// no password, and the share admits the user.
	users := write("users", "alice:correct-horse\n\nbob:battery-staple\n")
	ag := startCLIAgent(t, envHome, "share", "public", headerBackend(t).URL, "--basic-auth-file", users)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ag.cmd.Process.Pid))
	if err != nil || strings.Contains(string(cmdline), "correct-horse") || !strings.Contains(string(cmdline), "--basic-auth-file") {
		t.Errorf("the agent's command line %q (%v) shows a password", cmdline, err)
	}
	wantWithin(t, 10*time.Second, "the share to ask for a login", wantStatus(ag.host, 401))
	for _, user := range [][2]string{{"alice", "correct-horse"}, {"bob", "battery-staple"}} {
		h := http.Header{}
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user[0], user[1])
		h.Set("Authorization", r.Header.Get("Authorization"))
		if resp, _ := do(t, frontendClient, ag.host, h); resp.StatusCode != 200 {
			t.Errorf("%s with the password from the file: %d, want 200", user[0], resp.StatusCode)
		}
	}
	if out, err := run("", nil, "share", "public", "http://localhost:1", "--basic-auth-file", write("bad", "nocolon\n"), "--home", envHome); err == nil || !strings.Contains(out, "want user:password") || strings.Contains(out, "Public URL") {
		t.Errorf("a malformed users file: %v\n%s", err, out)
	}
}

// ls pages: --limit prints one page and the command for the next, which
// prints the rest; plain ls prints every share. A bad flag says what is wrong.
func TestLsPages(t *testing.T) {
	_, home := account(t, "lspages")
	var names []string
	for range 3 {
		n := uniqueName("page")
		mustCLI(t, home, "reserve", n)
		names = append(names, n)
	}
	rows := func(out string) []string {
		var got []string
		for _, n := range names {
			if strings.Contains(out, n) {
				got = append(got, n)
			}
		}
		return got
	}
	first := mustCLI(t, home, "ls", "--limit", "2")
	more := regexp.MustCompile(`More: portico ls --cursor (\S+) --limit 2`).FindStringSubmatch(first)
	if got := rows(first); len(got) != 2 || more == nil {
		t.Fatalf("ls --limit 2 listed %v and no next page:\n%s", got, first)
	}
	rest := mustCLI(t, home, "ls", "--limit", "2", "--cursor", more[1])
	if got := rows(rest); len(got) != 1 || strings.Contains(rest, "More:") || strings.Contains(first, got[0]) {
		t.Fatalf("the next page listed %v:\n%s\nafter:\n%s", got, rest, first)
	}
	if got := rows(mustCLI(t, home, "ls")); len(got) != 3 {
		t.Fatalf("ls listed %v, want all three", got)
	}
	for args, want := range map[string]string{
		"--limit -1":       "want a positive number",
		"--limit 5000":     "from 1 to 1000",
		"--cursor garbage": "cursor: malformed",
	} {
		if out, err := cli(t, home, append([]string{"ls"}, strings.Fields(args)...)...); err == nil || !strings.Contains(out, want) {
			t.Errorf("ls %s: %v\n%s\nwant an error that says %q", args, err, out, want)
		}
	}
}
