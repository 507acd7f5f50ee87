package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/testenv"
)

// headerBackend answers with the request headers it received, as JSON.
func headerBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend/1.0")
		json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request through the frontend and returns the answer and the
// headers the backend saw (nil unless the answer is 200).
func do(t *testing.T, cl *http.Client, host string, header http.Header) (*http.Response, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var seen http.Header
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
			t.Fatalf("backend answer: %v", err)
		}
	}
	return resp, seen
}

func TestBasicAuthAndHeaderRules(t *testing.T) {
	_, home := account(t, "basic")
	ag := startCLIAgent(t, home, "share", "public", headerBackend(t).URL,
		"--basic-auth", "alice:s3cret", "--basic-auth", "bob:hunter2",
		"--request-header", "X-From: portico", "--remove-request-header", "X-Debug",
		"--response-header", "X-Frame-Options: DENY", "--remove-response-header", "Server")
	wantWithin(t, 10*time.Second, "the share to ask for a login", wantStatus(ag.host, 401))

	auth := func(user, pass string) http.Header {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header
	}
	for _, tt := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"no credentials", nil, 401},
		{"wrong password", auth("alice", "nope"), 401},
		{"unknown user", auth("mallory", "s3cret"), 401},
		{"another user's password", auth("bob", "s3cret"), 401},
	} {
		resp, _ := do(t, frontendClient, ag.host, tt.header)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Basic realm=`) {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, resp.Header.Get("WWW-Authenticate"))
		}
	}

	h := auth("alice", "s3cret")
	h.Set("X-Portico-User", "root") // a spoofed identity
	h.Set("X-Portico-Auth", "oauth")
	h.Set("X-Debug", "1")
	resp, seen := do(t, frontendClient, ag.host, h)
	if resp.StatusCode != 200 {
		t.Fatalf("alice with her password: %d", resp.StatusCode)
	}
	if seen.Get("X-Portico-User") != "alice" || seen.Get("X-Portico-Auth") != "basic" || len(seen.Values("X-Portico-User")) != 1 {
		t.Errorf("backend saw identity %q/%q, want alice/basic and no spoofed value", seen.Values("X-Portico-User"), seen.Get("X-Portico-Auth"))
	}
	if seen.Get("Authorization") != "" || seen.Get("X-From") != "portico" || seen.Get("X-Debug") != "" {
		t.Errorf("request headers at the backend: %v", seen)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Server") != "" {
		t.Errorf("response headers: %v", resp.Header)
	}
	if resp, _ := do(t, frontendClient, ag.host, auth("bob", "hunter2")); resp.StatusCode != 200 {
		t.Errorf("bob with his password: %d", resp.StatusCode)
	}
	// Three failures so far; a client that keeps guessing is refused before
	// any bcrypt compare, and with it, for a while, its right password.
	for i := 4; i <= 10; i++ {
		if resp, _ := do(t, frontendClient, ag.host, auth("alice", fmt.Sprint("guess", i))); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i, resp.StatusCode)
		}
	}
	for _, h := range []http.Header{auth("alice", "guess11"), auth("alice", "s3cret")} {
		if resp, _ := do(t, frontendClient, ag.host, h); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("after ten failures: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

func TestIdentityHeadersAreStrippedWithoutAPolicy(t *testing.T) {
	_, home := account(t, "spoof")
	ag := startCLIAgent(t, home, "share", "public", headerBackend(t).URL)
	wantWithin(t, 10*time.Second, "the share to answer", wantStatus(ag.host, 200))
	resp, seen := do(t, frontendClient, ag.host, http.Header{"X-Portico-User": {"admin@example.com"}, "X-Portico-Auth": {"oauth"}, "X-Portico-Anything": {"x"}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k := range seen {
		if strings.HasPrefix(k, "X-Portico-") {
			t.Errorf("the backend received the client's %s: %q", k, seen.Values(k))
		}
	}
}

func TestIPAllowAndDeny(t *testing.T) {
	_, home := account(t, "ips")
	backend := headerBackend(t).URL
	denied := startCLIAgent(t, home, "share", "public", backend, "--deny-ip", "127.0.0.0/8")
	notAllowed := startCLIAgent(t, home, "share", "public", backend, "--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32")
	allowed := startCLIAgent(t, home, "share", "public", backend, "--allow-ip", "127.0.0.1", "--deny-ip", "10.1.0.0/16")
	wantWithin(t, 10*time.Second, "the allowed share to answer", wantStatus(allowed.host, 200))
	// The client is 127.0.0.1, and the frontend trusts no proxy, so a
	// forwarded address the client made up changes nothing.
	spoof := http.Header{"X-Forwarded-For": {"10.0.0.7"}, "X-Real-Ip": {"10.0.0.7"}}
	for _, tt := range []struct {
		host   string
		status int
	}{{denied.host, 403}, {notAllowed.host, 403}, {allowed.host, 200}} {
		for _, h := range []http.Header{nil, spoof} {
			if resp, _ := do(t, frontendClient, tt.host, h); resp.StatusCode != tt.status {
				t.Errorf("%s with %v: %d, want %d", tt.host, h, resp.StatusCode, tt.status)
			}
		}
	}
}

func TestOIDCLoginRoundTrip(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	oc := idp.Config()
	if err := loadCaddyConfig(caddyConfig{app: []string{fmt.Sprintf(`oauth {
			cookie_key 0123456789abcdef0123456789abcdef-e2e
			oidc local {
				issuer %s
				client_id %s
				client_secret %s
			}
		}`, idp.Issuer(), oc.ClientID, oc.ClientSecret)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loadCaddy() })

	_, home := account(t, "oidc")
	ag := startCLIAgent(t, home, "share", "public", headerBackend(t).URL, "--oauth-provider", "local", "--oauth-email-domain", "example.com")
	// A browser that reaches the share through the frontend and the
	// provider directly, keeping cookies.
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if strings.HasSuffix(strings.Split(addr, ":")[0], "."+namespace) {
					addr = stack.httpAddr
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}}
	}
	wantWithin(t, 10*time.Second, "the share to send visitors to log in", func() error {
		cl := browser()
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, _ := do(t, cl, ag.host, nil)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), idp.Issuer()) {
			return fmt.Errorf("%d to %q, want a redirect to the provider", resp.StatusCode, resp.Header.Get("Location"))
		}
		return nil
	})

	ann := browser()
	idp.QueueUser(&mockoidc.MockUser{Subject: "ann", Email: "ann@example.com", EmailVerified: true})
	resp, seen := do(t, ann, ag.host, http.Header{"X-Portico-User": {"root@example.com"}})
	if resp.StatusCode != 200 || seen.Get("X-Portico-User") != "ann@example.com" || seen.Get("X-Portico-Auth") != "oauth" {
		t.Fatalf("after logging in: %d, backend saw %q/%q", resp.StatusCode, seen.Values("X-Portico-User"), seen.Get("X-Portico-Auth"))
	}
	// The session cookie carries her on without the provider.
	if resp, seen := do(t, ann, ag.host, nil); resp.StatusCode != 200 || seen.Get("X-Portico-User") != "ann@example.com" {
		t.Errorf("second visit: %d %q", resp.StatusCode, seen.Get("X-Portico-User"))
	}

	idp.QueueUser(&mockoidc.MockUser{Subject: "bob", Email: "bob@elsewhere.org", EmailVerified: true})
	if resp, _ := do(t, browser(), ag.host, nil); resp.StatusCode != 403 {
		t.Errorf("an email outside example.com: %d, want 403", resp.StatusCode)
	}
}

// One account's large policies once kept every new or restarted frontend
// from loading any route: the snapshot outgrew gRPC's 4 MiB message limit.
// An account fills a namespace with 160 reserved names, each with a policy
// near the 32 KiB bound (4.6 MB in all); a frontend started afterwards loads
// every one and serves a share there, and a policy over the bound is refused.
func TestLargePoliciesDoNotStopAFreshFrontend(t *testing.T) {
	acct, home := account(t, "bigpolicies")
	ctx := context.Background()
	ns := uniqueName("big") + ".localhost"
	if _, err := stack.admin.CreateNamespace(ctx, ns, false); err != nil { // closed: other tests' accounts keep one namespace
		t.Fatal(err)
	}
	if err := stack.admin.GrantNamespace(ctx, ns, acct.Email); err != nil {
		t.Fatal(err)
	}
	var env struct {
		EnvironmentID string `json:"environment_id"`
	}
	raw, err := os.ReadFile(filepath.Join(home, "environment.json"))
	if err == nil {
		err = json.Unmarshal(raw, &env)
	}
	if err != nil {
		t.Fatal(err)
	}
	cl := apiclient.New(stack.apiURL, acct.Token)
	big := func(values int) *policy.Policy {
		p := &policy.Policy{ResponseHeaders: policy.HeaderRules{Set: map[string]string{}}}
		for i := range values {
			p.ResponseHeaders.Set[fmt.Sprintf("X-Filler-%d", i)] = strings.Repeat("x", policy.MaxValueBytes)
		}
		return p
	}
	if _, err := cl.CreateShare(ctx, apitypes.ShareRequest{EnvironmentID: env.EnvironmentID, Namespace: ns, Reserved: true, Name: "too-big", Policy: big(9)}); !apiclient.IsStatus(err, 400) {
		t.Fatalf("a 36 KiB policy: %v, want 400", err)
	}

	const names = 160
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
		failed error
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < names; i += 4 {
				sh, err := cl.CreateShare(ctx, apitypes.ShareRequest{EnvironmentID: env.EnvironmentID, Namespace: ns, Reserved: true, Name: fmt.Sprintf("big-%03d", i), Policy: big(7)})
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				if err == nil {
					tokens = append(tokens, sh.Token)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() { // released, so the reconciler has less to look at
		for _, tok := range tokens {
			cl.DeleteShare(context.Background(), tok)
		}
	})
	if failed != nil {
		t.Fatalf("reserving the names: %v", failed)
	}
	// The frontend record comes first (an agent prints its URL once a
	// frontend serves the namespace); its instance starts after everything.
	fe, idFile := newFrontendRecord(t, stack.admin, t.TempDir(), "big-policies", "http://{host}", ns)
	ag := startCLIAgent(t, home, "share", "public", newBackend(t).URL, "--namespace", ns)
	defer ag.stop(t)
	f := newFrontendProc(t, t.TempDir(), "fresh", []string{stack.ctrl.GRPCAddr()}, fe, idFile, testenv.FreeAddr())
	t.Cleanup(f.Kill)
	f.start(t)
	f.waitLoaded(t)
	_, ms, err := adminMappings(f.adminAddr)
	if err != nil || len(ms) != names+1 {
		t.Fatalf("the fresh frontend holds %d mappings (%v), want %d\n%s", len(ms), err, names+1, f.LogTail())
	}
	wantWithin(t, 10*time.Second, "the share through the fresh frontend", f.serves(ag.host))
	if code, _, err := f.get("big-000."+ns, "/"); err != nil || code != http.StatusBadGateway {
		t.Errorf("a reserved name with a large policy and no agent: %d %v, want 502 offline", code, err)
	}
	// A share made after the instance started, then both again on new
	// overlay connections.
	later := startCLIAgent(t, home, "share", "public", newBackend(t).URL, "--namespace", ns)
	defer later.stop(t)
	wantWithin(t, 10*time.Second, "a later share through the fresh frontend", f.serves(later.host))
	f.closeIdleConns(t)
	for _, host := range []string{ag.host, later.host} {
		if err := f.serves(host)(); err != nil {
			t.Errorf("after idle connections are gone: %v", err)
		}
	}
}
