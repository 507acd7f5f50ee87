package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
)

const bigSize = 5 << 20

// bigBody is the 5 MB the backend streams, the same bytes every time.
var bigBody = func() []byte {
	b := make([]byte, bigSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// newBackend is the local service an agent shares.
func newBackend(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the backend")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Host", r.Header.Get("X-Forwarded-Host"))
		body, _ := io.ReadAll(r.Body) // net/http cannot read a body after it starts the answer
		w.Write(body)
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		// Written in small pieces without a length, so it streams chunked.
		for off := 0; off < len(bigBody); off += 64 << 10 {
			w.Write(bigBody[off:min(off+64<<10, len(bigBody))])
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// frontendClient sends every request to the Caddy frontend, whatever the
// URL's host, as a DNS entry for the share's name would.
var frontendClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, stack.httpAddr)
		},
		DisableKeepAlives: true,
	},
}

// get sends one request for host to the stack's frontend.
func get(host, path string) (int, string, error) { return getWith(frontendClient, host, path) }

// getThrough sends one request for host to addr, on a new connection.
func getThrough(addr, host, path string) (int, string, error) {
	return getWith(&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}, host, path)
}

func getWith(cl *http.Client, host, path string) (int, string, error) {
	resp, err := cl.Get("http://" + host + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func wantStatus(host string, status int) func() error {
	return func() error {
		code, body, err := get(host, "/")
		if err != nil {
			return err
		}
		if code != status {
			return fmt.Errorf("status %d (%q), want %d", code, body, status)
		}
		return nil
	}
}

func postEcho(t *testing.T, host string) {
	t.Helper()
	payload := strings.Repeat("portico ", 1000)
	resp, err := frontendClient.Post("http://"+host+"/echo", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(body) != payload {
		t.Fatalf("POST = %d, %d bytes back (%v), want %d", resp.StatusCode, len(body), err, len(payload))
	}
	if got := resp.Header.Get("X-Seen-Host"); got != host {
		t.Errorf("backend saw X-Forwarded-Host %q, want %q", got, host)
	}
}

// account creates an account and enables an environment for it in its own home.
func account(t *testing.T, name string) (apitypes.Account, string) {
	t.Helper()
	acct, err := stack.admin.CreateAccount(context.Background(), fmt.Sprintf("%s-%d@e2e.localhost", name, time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	out, err := exec.Command(stack.portico, "enable", acct.Token, "--api", stack.apiURL, "--home", home).CombinedOutput()
	if err != nil {
		t.Fatalf("portico enable: %v\n%s", err, out)
	}
	return acct, home
}

// agent is a running `portico share public` or `portico share reserved`.
type agent struct {
	cmd   *exec.Cmd
	out   *syncBuffer
	token string // of a public share; a reserved one outlives the agent
	host  string
	done  chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startAgent(t *testing.T, home, target string, flags ...string) *agent {
	t.Helper()
	a := startCLIAgent(t, home, append([]string{"share", "public", target}, flags...)...)
	a.token, _, _ = strings.Cut(a.host, ".")
	return a
}

// startCLIAgent runs `portico <args>` and waits for it to print its public URL.
func startCLIAgent(t *testing.T, home string, args ...string) *agent {
	t.Helper()
	a, u := startCLI(t, home, "Public URL: ", args...)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("agent printed a bad public URL %q: %v", u, err)
	}
	a.host = pu.Hostname()
	return a
}

// startCLI runs `portico <args>` and waits for it to print a line that
// starts with prefix; it returns the rest of the first such line.
func startCLI(t *testing.T, home, prefix string, args ...string) (*agent, string) {
	t.Helper()
	a, lines := launchCLI(t, home, prefix, args...)
	select {
	case line := <-lines:
		return a, line.text
	case err := <-a.done:
		t.Fatalf("portico %s exited early: %v\n%s", args[0], err, a.out)
	case <-time.After(60 * time.Second):
		t.Fatalf("portico %s printed no %q line within 60 s:\n%s", args[0], prefix, a.out)
	}
	return nil, ""
}

// printed is a line a command printed, and when.
type printed struct {
	text string
	at   time.Time
}

// launchCLI runs `portico <args>` and returns at once; the channel gets the
// rest of the first line that starts with prefix.
func launchCLI(t *testing.T, home, prefix string, args ...string) (*agent, <-chan printed) {
	t.Helper()
	a := &agent{out: &syncBuffer{}, done: make(chan error, 1)}
	a.cmd = exec.Command(stack.portico, append(args, "--home", home)...)
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.Stderr = a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan printed, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(a.out, sc.Text())
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				select { // the first one is enough (there is a URL per frontend)
				case lines <- printed{rest, time.Now()}:
				default:
				}
			}
		}
		a.done <- a.cmd.Wait()
	}()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
		}
	})
	return a, lines
}

// stop sends SIGTERM and checks that the agent exited cleanly and, for a
// public share, deleted it.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("agent exited with %v:\n%s", err, a.out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("agent did not exit within 20 s of SIGTERM:\n%s", a.out)
	}
	if a.token != "" && !strings.Contains(a.out.String(), "Share "+a.token+" deleted.") {
		t.Fatalf("agent did not report deleting its share:\n%s", a.out)
	}
}

func TestSharePublicEndToEnd(t *testing.T) {
	_, home := account(t, "alice")
	backend := newBackend(t)
	ag := startAgent(t, home, backend.URL)
	if !strings.HasSuffix(ag.host, "."+namespace) || ag.token == "" {
		t.Fatalf("public URL host %q is not <token>.%s", ag.host, namespace)
	}
	wantWithin(t, 5*time.Second, "the route to appear", wantStatus(ag.host, http.StatusOK))

	t.Run("GET", func(t *testing.T) {
		code, body, err := get(ag.host, "/")
		if err != nil || code != 200 || body != "hello from the backend" {
			t.Fatalf("GET = %d %q %v", code, body, err)
		}
		// Host is case-insensitive and may carry a port and a trailing dot.
		code, _, err = get(strings.ToUpper(ag.token)+"."+namespace+".:80", "/")
		if err != nil || code != 200 {
			t.Fatalf("GET with an unnormalised Host = %d %v", code, err)
		}
	})

	t.Run("POST echoes the body", func(t *testing.T) {
		// Many times: a race in the agent once cut about one answer in a
		// hundred short.
		for range 100 {
			postEcho(t, ag.host)
		}
	})

	t.Run("5 MB streams intact", func(t *testing.T) {
		resp, err := frontendClient.Get("http://" + ag.host + "/big")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err != nil || n != bigSize {
			t.Fatalf("read %d bytes (%v), want %d", n, err, bigSize)
		}
		if want := sha256.Sum256(bigBody); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatal("the 5 MB body arrived corrupted")
		}
	})

	t.Run("WebSocket echo", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws://"+ag.host+"/ws", &websocket.DialOptions{HTTPClient: frontendClient})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for _, msg := range []string{"one", "two", strings.Repeat("x", 100000)} {
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.Read(ctx)
			if err != nil || string(got) != "echo: "+msg {
				t.Fatalf("read %d bytes (%v), want the echo of %d", len(got), err, len(msg))
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("unknown host is 404", func(t *testing.T) {
		code, body, err := get("nobody."+namespace, "/")
		if err != nil || code != http.StatusNotFound || !strings.Contains(body, "no share is served at nobody."+namespace) {
			t.Fatalf("GET unknown host = %d %q %v", code, body, err)
		}
	})

	t.Run("a config reload keeps the table", func(t *testing.T) {
		if err := loadCaddy("header X-Reloaded yes"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { loadCaddy() })
		// No 503 in between: the runtime, and its table, outlive the reload.
		resp, err := frontendClient.Get("http://" + ag.host + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Reloaded") != "yes" {
			t.Fatalf("after reload: %d, X-Reloaded %q", resp.StatusCode, resp.Header.Get("X-Reloaded"))
		}
	})

	t.Run("ls lists the share", func(t *testing.T) {
		out, err := exec.Command(stack.portico, "ls", "--home", home).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ag.token) || !strings.Contains(string(out), backend.URL) {
			t.Fatalf("portico ls: %v\n%s", err, out)
		}
	})

	t.Run("a stopped agent's host is 404 within 2 s", func(t *testing.T) {
		ag.stop(t)
		wantWithin(t, 2*time.Second, "the deleted share's host to answer 404", wantStatus(ag.host, http.StatusNotFound))
	})
}

func TestAgentGoneIs502(t *testing.T) {
	acct, home := account(t, "bob")
	ag := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the route to appear", wantStatus(ag.host, http.StatusOK))
	ag.cmd.Process.Kill() // no chance to delete the share
	<-ag.done
	code, body, err := get(ag.host, "/")
	if err != nil || code != http.StatusBadGateway || !strings.Contains(body, "is offline: its agent is not connected") {
		t.Fatalf("GET with the agent gone = %d %q %v", code, body, err)
	}
	// The reaper may have removed it already.
	if err := apiclient.New(stack.apiURL, acct.Token).DeleteShare(context.Background(), ag.token); err != nil && !apiclient.IsStatus(err, http.StatusNotFound) {
		t.Fatal(err)
	}
}

func TestAccountsCannotTouchEachOthersShares(t *testing.T) {
	ctx := context.Background()
	alice, aliceHome := account(t, "alice")
	bob, _ := account(t, "bob")
	ag := startAgent(t, aliceHome, newBackend(t).URL)
	defer ag.stop(t)
	asBob := apiclient.New(stack.apiURL, bob.Token)

	shares, err := asBob.Shares(ctx)
	if err != nil || len(shares) != 0 {
		t.Fatalf("bob lists %d shares (%v), want 0", len(shares), err)
	}
	if err := asBob.DeleteShare(ctx, ag.token); !apiclient.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("bob deleting alice's share: %v, want 404", err)
	}
	shares, err = apiclient.New(stack.apiURL, alice.Token).Shares(ctx)
	if err != nil || len(shares) != 1 || shares[0].Token != ag.token {
		t.Fatalf("alice lists %+v (%v), want her one share", shares, err)
	}
	wantWithin(t, 5*time.Second, "alice's share to keep serving", wantStatus(ag.host, http.StatusOK))
}

func TestRoutesSurviveControllerOutage(t *testing.T) {
	_, home := account(t, "carol")
	ag := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the route to appear", wantStatus(ag.host, http.StatusOK))

	if err := stopController(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := startController(context.Background()); err != nil {
				t.Errorf("restarting the controller for the tests after this one: %v", err)
			}
		}
	})
	if _, err := stack.admin.Namespaces(context.Background()); err == nil {
		t.Fatal("the controller still answers after Close")
	}
	// Longer than the 2 s resync interval, so the frontend has tried and failed to resync.
	for range 8 {
		if err := wantStatus(ag.host, http.StatusOK)(); err != nil {
			t.Fatalf("with the controller down: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	if err := startController(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ag.stop(t)
	wantWithin(t, 15*time.Second, "the frontend to resync after the controller restart", wantStatus(ag.host, http.StatusNotFound))
}

func TestClusterStatusOfASingleController(t *testing.T) {
	ctx := context.Background()
	wantWithin(t, 12*time.Second, "the frontend instance to report itself caught up", func() error {
		all, err := stack.admin.Instances(ctx)
		if err != nil {
			return err
		}
		// Other tests' frontends may still be listed until they time out.
		var ins []apitypes.Instance
		for _, in := range all {
			if in.Frontend == stack.frontend {
				ins = append(ins, in)
			}
		}
		if len(ins) != 1 || ins[0].Lag != 0 || ins[0].AppliedRevision != ins[0].Revision {
			return fmt.Errorf("instances of the frontend = %+v", ins)
		}
		return nil
	})
	cs, err := stack.admin.Controllers(ctx)
	if err != nil || len(cs) != 1 || "http://"+cs[0].APIAddress != stack.apiURL {
		t.Fatalf("controllers = %+v, %v", cs, err)
	}
	wantWithin(t, 5*time.Second, "the controller to hold every worker's lease", func() error {
		ls, err := stack.admin.Leases(ctx)
		if err != nil {
			return err
		}
		if len(ls) != 3 {
			return fmt.Errorf("leases = %+v", ls)
		}
		for _, l := range ls {
			if l.Holder != cs[0].ID {
				return fmt.Errorf("lease %s held by %s", l.Name, l.Holder)
			}
		}
		return nil
	})
}

// A frontend identity may dial only the public shares of the namespaces its
// frontend serves: one that serves another namespace is refused by the
// overlay until its frontend is mapped to the share's namespace.
func TestOnlyTheNamespacesFrontendsDialAShare(t *testing.T) {
	_, home := account(t, "scoped")
	ag := startCLIAgent(t, home, "share", "public", newBackend(t).URL)
	defer ag.stop(t)
	wantWithin(t, 10*time.Second, "the share to answer", wantStatus(ag.host, 200))
	token, _, _ := strings.Cut(ag.host, ".") // an ephemeral share is named by its token

	ctx := context.Background()
	other := uniqueName("elsewhere") + ".localhost"
	if _, err := stack.admin.CreateNamespace(ctx, other, false); err != nil { // closed, so other tests keep one namespace
		t.Fatal(err)
	}
	fe, idFile := newFrontendRecord(t, stack.admin, t.TempDir(), "scoped", "http://{host}", other)
	if err := overlayDialAs(t, idFile, token); err == nil {
		t.Fatalf("frontend %s, which serves only %s, dialled a share of %s", fe.Token, other, namespace)
	}
	if err := stack.admin.MapNamespace(ctx, fe.Token, namespace); err != nil {
		t.Fatal(err)
	}
	wantWithin(t, 15*time.Second, "the frontend mapped to the namespace to dial its share", func() error {
		return overlayDialAs(t, idFile, token)
	})

	// The reconciler puts drift right: a Dial policy for every frontend (as
	// before namespace roles), and a frontend identity without its roles.
	zc, err := zitiauto.New(zitiauto.Config{ManagementURLs: []string{stack.ziti.CtrlAddress}, Username: stack.ziti.Username, Password: stack.ziti.Password})
	if err != nil {
		t.Fatal(err)
	}
	wantRoles, err := readDialRoles(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := zc.SetShareDialRoles(ctx, token, []string{"#" + zitiauto.RoleFrontend}); err != nil {
		t.Fatal(err)
	}
	if err := zc.SetIdentityRoles(ctx, fe.ZitiIdentityID, []string{zitiauto.RoleFrontend}); err != nil {
		t.Fatal(err)
	}
	wantWithin(t, 15*time.Second, "the reconciler to repair the dial roles and the frontend's roles", func() error {
		roles, err := readDialRoles(token)
		if err != nil || fmt.Sprint(roles) != fmt.Sprint(wantRoles) {
			return fmt.Errorf("dial roles %v (%v), want %v", roles, err, wantRoles)
		}
		got, err := zc.FrontendIdentityRoles(ctx)
		if err != nil || len(got[fe.ZitiIdentityID]) != 3 {
			return fmt.Errorf("frontend roles %v (%v), want portico-frontend and both namespaces'", got[fe.ZitiIdentityID], err)
		}
		return overlayDialAs(t, idFile, token)
	})
}
