package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
)

func newHandler(table *routes.Table) *Handler {
	return &Handler{table: table, refusals: zap.NewNop(), failedLogins: policy.NewFailedLogins(loginFailureBurst, loginFailureEvery, 64)}
}

// policyJSON marshals a policy for a mapping.
func policyJSON(t testing.TB, p policy.Policy) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), policy.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// backend records what reached the share and answers with a few headers.
type backend struct {
	calls  int
	header http.Header
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	b.calls++
	b.header = r.Header.Clone()
	w.Header().Set("Server", "backend/1.0")
	w.Header().Set("X-Frame-Options", "ALLOW")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("hello"))
	return err
}

func TestSharePolicy(t *testing.T) {
	table := routes.NewTable()
	table.Replace(1, []mapping.Mapping{
		{Name: "open.share.test", Share: "open"},
		{Name: "basic.share.test", Share: "basic", Policy: policyJSON(t, policy.Policy{
			BasicAuth: []policy.User{{Username: "alice", PasswordHash: bcryptHash(t, "wonderland")}},
		})},
		{Name: "ip.share.test", Share: "ip", Policy: policyJSON(t, policy.Policy{
			IPAllow: []string{"10.0.0.0/8", "2001:db8::/32"},
			IPDeny:  []string{"10.66.0.0/16"},
		})},
		{Name: "headers.share.test", Share: "headers", Policy: policyJSON(t, policy.Policy{
			RequestHeaders:  policy.HeaderRules{Set: map[string]string{"X-Env": "{env.HOME}"}, Remove: []string{"Cookie"}},
			ResponseHeaders: policy.HeaderRules{Set: map[string]string{"X-Frame-Options": "DENY"}, Remove: []string{"Server"}},
		})},
		{Name: "broken.share.test", Share: "broken", Policy: []byte(`{"ip_allow":["everyone"]}`)},
		{Name: "garbled.share.test", Share: "garbled", Policy: []byte(`{"basic_auth":`)},
	})
	h := newHandler(table)

	tests := []struct {
		name     string
		host     string
		clientIP string // as Caddy computed it; empty: the peer, 192.0.2.1
		header   http.Header
		basic    []string // user, password
		status   int      // 0: reaches the backend
		check    func(t *testing.T, w *httptest.ResponseRecorder, got http.Header)
	}{
		{name: "no policy strips spoofed identity", host: "open.share.test",
			header: http.Header{"X-Portico-User": {"admin"}, "X-Portico-Auth": {"basic"}, "x-portico-other": {"1"}},
			check: func(t *testing.T, _ *httptest.ResponseRecorder, got http.Header) {
				for name := range got {
					if policy.IsIdentityHeader(name) {
						t.Errorf("spoofed %s reached the share", name)
					}
				}
			}},
		{name: "basic auth missing", host: "basic.share.test", status: http.StatusUnauthorized,
			check: func(t *testing.T, w *httptest.ResponseRecorder, _ http.Header) {
				if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="basic.share.test"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}},
		{name: "basic auth wrong password", host: "basic.share.test", basic: []string{"alice", "looking-glass"}, status: http.StatusUnauthorized},
		{name: "basic auth unknown user", host: "basic.share.test", basic: []string{"bob", "wonderland"}, status: http.StatusUnauthorized},
		{name: "basic auth allowed, spoofed user replaced", host: "basic.share.test", basic: []string{"alice", "wonderland"},
			header: http.Header{"X-Portico-User": {"admin"}},
			check: func(t *testing.T, _ *httptest.ResponseRecorder, got http.Header) {
				if got.Get(HeaderUser) != "alice" || got.Get(HeaderAuth) != "basic" {
					t.Errorf("identity = %q/%q, want alice/basic", got.Get(HeaderUser), got.Get(HeaderAuth))
				}
				if got.Get("Authorization") != "" {
					t.Error("the password reached the share")
				}
			}},
		{name: "ip allowed", host: "ip.share.test", clientIP: "10.1.2.3"},
		{name: "ip allowed v6", host: "ip.share.test", clientIP: "2001:db8::7"},
		{name: "ip denied wins over allowed", host: "ip.share.test", clientIP: "10.66.0.9", status: http.StatusForbidden},
		{name: "ip not allowed", host: "ip.share.test", clientIP: "192.0.2.1", status: http.StatusForbidden},
		{name: "ip spoofed X-Forwarded-For from an untrusted client", host: "ip.share.test", clientIP: "198.51.100.7",
			header: http.Header{"X-Forwarded-For": {"10.1.2.3"}, "X-Real-Ip": {"10.1.2.3"}}, status: http.StatusForbidden},
		{name: "ip from the peer outside Caddy", host: "ip.share.test", status: http.StatusForbidden},
		{name: "headers set and removed, literally", host: "headers.share.test",
			header: http.Header{"Cookie": {"a=b"}, "X-Env": {"dev"}},
			check: func(t *testing.T, w *httptest.ResponseRecorder, got http.Header) {
				if got.Get("Cookie") != "" || got.Get("X-Env") != "{env.HOME}" {
					t.Errorf("request headers = %v", got)
				}
				if w.Header().Get("Server") != "" || w.Header().Get("X-Frame-Options") != "DENY" {
					t.Errorf("response headers = %v", w.Header())
				}
				if w.Body.String() != "hello" {
					t.Errorf("body = %q", w.Body.String())
				}
			}},
		{name: "invalid policy fails closed", host: "broken.share.test", status: http.StatusServiceUnavailable},
		{name: "malformed policy fails closed", host: "garbled.share.test", status: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := request(tt.host)
			r.RemoteAddr = "192.0.2.1:4444"
			if tt.clientIP != "" {
				caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, tt.clientIP)
			}
			for k, v := range tt.header {
				r.Header[k] = v
			}
			if tt.basic != nil {
				r.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			w := httptest.NewRecorder()
			be := &backend{}
			err := h.ServeHTTP(w, r, be)
			if got := statusOf(err); got != tt.status {
				t.Fatalf("status = %d (err %v), want %d", got, err, tt.status)
			}
			if reached := be.calls == 1; reached != (tt.status == 0) {
				t.Fatalf("backend reached: %v, want %v", reached, tt.status == 0)
			}
			if tt.check != nil {
				tt.check(t, w, be.header)
			}
		})
	}
}

// Each wrong password costs the frontend a bcrypt compare, so a client that
// keeps guessing at one share is refused with 429, before any compare,
// once it has spent its failures; other clients and shares are not.
func TestFailedLoginsAreRateLimited(t *testing.T) {
	table := routes.NewTable()
	users := policy.Policy{BasicAuth: []policy.User{{Username: "alice", PasswordHash: bcryptHash(t, "wonderland")}}}
	table.Replace(1, []mapping.Mapping{
		{Name: "a.share.test", Share: "a", Policy: policyJSON(t, users)},
		{Name: "b.share.test", Share: "b", Policy: policyJSON(t, users)},
	})
	h := newHandler(table)
	// A failure comes back after every; the frontend's 10 s is less than ten
	// bcrypt compares take under -race on a busy machine.
	every := time.Hour
	h.failedLogins = policy.NewFailedLogins(loginFailureBurst, every, 64)
	login := func(host, client, password string) (int, http.Header) {
		r, _ := request(host)
		r.RemoteAddr = client + ":4444"
		r.SetBasicAuth("alice", password)
		w := httptest.NewRecorder()
		return statusOf(h.ServeHTTP(w, r, &backend{})), w.Header()
	}
	for i := range loginFailureBurst {
		if code, _ := login("a.share.test", "192.0.2.1", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, code)
		}
	}
	code, hdr := login("a.share.test", "192.0.2.1", "guess")
	if retry, _ := strconv.Atoi(hdr.Get("Retry-After")); code != http.StatusTooManyRequests || retry < 1 || retry > int(every.Seconds())+1 {
		t.Errorf("one failure too many: %d, Retry-After %q; want 429 within %s", code, hdr.Get("Retry-After"), every)
	}
	if code, _ := login("a.share.test", "192.0.2.1", "wonderland"); code != http.StatusTooManyRequests {
		t.Errorf("the right password from the refused client: %d, want 429 until it may try again", code)
	}
	if code, _ := login("a.share.test", "192.0.2.2", "wonderland"); code != 0 {
		t.Errorf("another client: %d, want it let in", code)
	}
	if code, _ := login("b.share.test", "192.0.2.1", "wonderland"); code != 0 {
		t.Errorf("the same client on another share: %d, want it let in", code)
	}
}

func TestBrokenPolicyIsNotLeaked(t *testing.T) {
	table := routes.NewTable()
	table.Replace(1, []mapping.Mapping{{Name: "broken.share.test", Share: "broken", Policy: []byte(`{"basic_auth":[{"username":"a","password_hash":"hunter2"}]}`)}})
	r, _ := request("broken.share.test")
	err := newHandler(table).ServeHTTP(httptest.NewRecorder(), r, &backend{})
	if statusOf(err) != http.StatusServiceUnavailable || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}
