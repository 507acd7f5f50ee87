package caddymodule

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/porticoproxy/portico/internal/testenv"
)

// TestOneFailedDialDoesNotRefuseAShare: with passive health checks, a share
// whose only agent failed one dial is dialled again on the next request,
// where Caddy's own random policy refuses it for fail_duration.
func TestOneFailedDialDoesNotRefuseAShare(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   int
	}{
		{"portico_agents", http.StatusOK},
		{"random", http.StatusServiceUnavailable}, // what AgentSelection is for
	} {
		t.Run(tc.policy, func(t *testing.T) {
			addr := testenv.FreeAddr() // nothing listens yet: the first dial fails
			front := proxyTo(t, addr, tc.policy)
			if code := serve(front); code != http.StatusBadGateway {
				t.Fatalf("first request, nothing listening: %d, want 502", code)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			if code := serve(front); code != tc.want {
				t.Fatalf("second request, the upstream back: %d, want %d", code, tc.want)
			}
		})
	}
}

// proxyTo runs Caddy with a reverse_proxy to upstream, the given selection
// policy and the passive health checks setAgentDefaults gives a share, and
// returns the address it listens on.
func proxyTo(t *testing.T, upstream, policy string) string {
	t.Helper()
	addr := testenv.FreeAddr()
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"srv": map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"handler":        "reverse_proxy",
				"upstreams":      []map[string]string{{"dial": upstream}},
				"load_balancing": map[string]any{"selection_policy": map[string]string{"policy": policy}},
				"health_checks":  map[string]any{"passive": map[string]any{"fail_duration": "5s"}},
			}}}},
		}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })
	return addr
}

func serve(addr string) int {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}
