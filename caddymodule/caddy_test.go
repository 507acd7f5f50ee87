package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/testenv"
)

// fakeOverlay stands in for OpenZiti: every share's service is the test's
// backend, and each dial is recorded.
type fakeOverlay struct {
	addr  string
	mu    sync.Mutex
	dials []string // "service" or "agent@service"
}

func (f *fakeOverlay) Dial(ctx context.Context, service, agent string) (net.Conn, error) {
	f.mu.Lock()
	if agent != "" {
		service = agent + "@" + service
	}
	f.dials = append(f.dials, service)
	f.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.addr)
}

func (f *fakeOverlay) Close() {}

func (f *fakeOverlay) dialed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.dials...)
}

// echoBackend answers with the request's headers as JSON and a few headers
// of its own.
func echoBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend/1.0")
		w.Header().Set("X-Frame-Options", "ALLOW")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// caddyFrontend is a real Caddy running the portico modules in-process.
type caddyFrontend struct {
	table   *routes.Table
	overlay *fakeOverlay
	// servers maps a server name to its address.
	servers map[string]string
}

// startCaddy loads a config with the portico app (over a fake overlay) and
// one HTTP server per entry of servers, each holding portico_share and
// reverse_proxy over the portico transport. A server's value is its extra
// JSON fields, such as trusted_proxies.
func startCaddy(t *testing.T, app map[string]any, servers map[string]map[string]any) *caddyFrontend {
	t.Helper()
	be := echoBackend(t)
	ov := &fakeOverlay{addr: be.Listener.Addr().String()}
	orig := connectOverlay
	connectOverlay = func(string, *zap.Logger) (overlay, error) { return ov, nil }
	t.Cleanup(func() { connectOverlay = orig })

	dir := t.TempDir()
	f := &caddyFrontend{overlay: ov, servers: map[string]string{}}
	frontend := fmt.Sprintf("fe-%d", time.Now().UnixNano())
	portico := map[string]any{
		"controllers": []string{"127.0.0.1:1"}, // never answers: the test fills the table
		"frontend":    frontend,
		"secret":      "secret",
		"identity":    filepath.Join(dir, "identity.json"),
		"cache_dir":   filepath.Join(dir, "cache"),
	}
	for k, v := range app {
		portico[k] = v
	}
	httpServers := map[string]any{}
	for name, extra := range servers {
		addr := testenv.FreeAddr()
		f.servers[name] = addr
		srv := map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{
				map[string]any{"handler": "portico_share"},
				map[string]any{
					"handler":           "reverse_proxy",
					"dynamic_upstreams": map[string]any{"source": "portico"},
					"transport":         map[string]any{"protocol": "portico"},
				},
			}}},
		}
		for k, v := range extra {
			srv[k] = v
		}
		httpServers[name] = srv
	}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "data")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"portico": portico,
			"http":    map[string]any{"servers": httpServers},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading caddy: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() })
	eachRuntime(func(rt *frontendRuntime) {
		if rt.frontend == frontend {
			f.table = rt.table
		}
	})
	if f.table == nil {
		t.Fatal("the portico runtime is not in the pool")
	}
	return f
}

// get sends a GET for host to the named server.
func (f *caddyFrontend) get(t *testing.T, client *http.Client, server, host, path string, header http.Header) (*http.Response, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+f.servers[server]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var seen http.Header
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &seen); err != nil {
			t.Fatalf("backend answer %q: %v", body, err)
		}
	}
	return resp, seen
}

func TestCaddyEnforcesPolicy(t *testing.T) {
	f := startCaddy(t, nil, map[string]map[string]any{
		// Behind a proxy on this host: X-Forwarded-For is believed.
		"trusted": {"trusted_proxies": map[string]any{"source": "static", "ranges": []string{"127.0.0.1/32"}}},
		// The same, as Portico documents it: the right-most untrusted hop.
		"strict": {"trusted_proxies": map[string]any{"source": "static", "ranges": []string{"127.0.0.1/32"}}, "trusted_proxies_strict": 1},
		// Facing clients directly: X-Forwarded-For is a client's claim.
		"direct": {},
	})
	f.table.Replace(1, []mapping.Mapping{
		{Name: "open.share.test", Share: "open"},
		{Name: "ip.share.test", Share: "ipshr", Policy: policyJSON(t, policy.Policy{IPAllow: []string{"203.0.113.0/24"}})},
		{Name: "basic.share.test", Share: "basic", Policy: policyJSON(t, policy.Policy{
			BasicAuth:       []policy.User{{Username: "alice", PasswordHash: bcryptHash(t, "wonderland")}},
			ResponseHeaders: policy.HeaderRules{Set: map[string]string{"X-Frame-Options": "DENY"}, Remove: []string{"Server"}},
		})},
		{Name: "agents.share.test", Share: "multi", Agents: []string{"agent-a"}},
		{Name: "broken.share.test", Share: "broken", Policy: []byte(`{"ip_allow":["nope"]}`)},
	})
	xff := http.Header{"X-Forwarded-For": {"203.0.113.9"}}

	t.Run("trusted proxy's X-Forwarded-For is the client", func(t *testing.T) {
		if resp, _ := f.get(t, nil, "trusted", "ip.share.test", "/", xff); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		if resp, _ := f.get(t, nil, "trusted", "ip.share.test", "/", nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("without X-Forwarded-For: status = %d, want 403", resp.StatusCode)
		}
	})
	// A load balancer that appends the client's address to the client's own
	// X-Forwarded-For: the left-most entry is whatever the client wrote.
	appended := http.Header{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1"}}
	t.Run("non-strict trusted proxies believe the client's own entry", func(t *testing.T) {
		if resp, _ := f.get(t, nil, "trusted", "ip.share.test", "/", appended); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d; Caddy's non-strict mode no longer takes the left-most entry, so this test no longer shows why strict is needed", resp.StatusCode)
		}
	})
	t.Run("strict trusted proxies take the address the proxy saw", func(t *testing.T) {
		if resp, _ := f.get(t, nil, "strict", "ip.share.test", "/", appended); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a spoofed left-most entry: status = %d, want 403", resp.StatusCode)
		}
		if resp, _ := f.get(t, nil, "strict", "ip.share.test", "/", xff); resp.StatusCode != http.StatusOK {
			t.Fatalf("the client the proxy saw: status = %d, want 200", resp.StatusCode)
		}
	})
	t.Run("the admin listing shows no password hash", func(t *testing.T) {
		w := httptest.NewRecorder()
		if err := serveMappings(w, httptest.NewRequest("GET", "/portico/mappings", nil)); err != nil {
			t.Fatal(err)
		}
		var out []runtimeMappings
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		var basic *adminMapping
		for _, rt := range out {
			for i, m := range rt.Mappings {
				if m.Share == "basic" {
					basic = &rt.Mappings[i]
				}
			}
		}
		hash := bcryptHash(t, "x")[:7] // "$2a$10$"
		if basic == nil || strings.Contains(w.Body.String(), hash) || strings.Contains(w.Body.String(), base64.StdEncoding.EncodeToString([]byte(hash))[:8]) ||
			!strings.Contains(string(basic.Policy), `"username":"alice","password_hash":"[redacted]"`) {
			t.Errorf("GET /portico/mappings shows %s; want the basic share's user with a redacted hash", w.Body)
		}
	})
	t.Run("untrusted client's X-Forwarded-For is ignored", func(t *testing.T) {
		if resp, _ := f.get(t, nil, "direct", "ip.share.test", "/", xff); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", resp.StatusCode)
		}
	})
	t.Run("spoofed identity is stripped", func(t *testing.T) {
		resp, seen := f.get(t, nil, "direct", "open.share.test", "/", http.Header{"X-Portico-User": {"admin"}, "X-Portico-Auth": {"oauth"}})
		if resp.StatusCode != http.StatusOK || seen.Get(HeaderUser) != "" || seen.Get(HeaderAuth) != "" {
			t.Fatalf("status %d, share saw %v", resp.StatusCode, seen)
		}
	})
	t.Run("basic auth", func(t *testing.T) {
		resp, _ := f.get(t, nil, "direct", "basic.share.test", "/", nil)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="basic.share.test"` {
			t.Fatalf("without credentials: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		bad := http.Header{"Authorization": {"Basic YWxpY2U6bm9wZQ=="}} // alice:nope
		if resp, _ := f.get(t, nil, "direct", "basic.share.test", "/", bad); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
		good := http.Header{"Authorization": {"Basic YWxpY2U6d29uZGVybGFuZA=="}, "X-Portico-User": {"root"}} // alice:wonderland
		resp, seen := f.get(t, nil, "direct", "basic.share.test", "/", good)
		if resp.StatusCode != http.StatusOK || seen.Get(HeaderUser) != "alice" || seen.Get(HeaderAuth) != "basic" {
			t.Fatalf("status %d, share saw %v", resp.StatusCode, seen)
		}
		if resp.Header.Get("Server") != "" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("response headers = %v", resp.Header)
		}
	})
	t.Run("agents are dialled by identity", func(t *testing.T) {
		if resp, _ := f.get(t, nil, "direct", "agents.share.test", "/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		dials := f.overlay.dialed()
		if last := dials[len(dials)-1]; last != "agent-a@multi" {
			t.Errorf("dialled %v, want agent-a@multi last", dials)
		}
	})
	t.Run("a policy that does not compile refuses", func(t *testing.T) {
		if resp, _ := f.get(t, nil, "direct", "broken.share.test", "/", nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503", resp.StatusCode)
		}
	})
}
