package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/service"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/policy"
)

const adminToken = "admin-token-0123456789"

// fakeZiti records the overlay objects the API asks for.
type fakeZiti struct {
	mu         sync.Mutex
	identities map[string]bool
	services   map[string]bool
	dialRoles  map[string][]string // by share token
	roles      map[string][]string // identity role attributes, by identity id
	fail       error
}

func (f *fakeZiti) CreateIdentity(_ context.Context, name string, _ []string, _ map[string]string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", "", f.fail
	}
	f.identities[name] = true
	return "zid-" + name, "jwt-" + name, nil
}

func (f *fakeZiti) DeleteIdentity(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.identities, strings.TrimPrefix(id, "zid-"))
	return nil
}

func (f *fakeZiti) CreateShareService(_ context.Context, tok string, _, dialRoles []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.services[tok] = true
	f.dialRoles[tok] = dialRoles
	return "svc-" + tok, nil
}

func (f *fakeZiti) SetShareDialRoles(_ context.Context, tok string, roles []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !f.services[tok] {
		return errors.New("share " + tok + " has 0 dial policies, want 1")
	}
	f.dialRoles[tok] = roles
	return nil
}

func (f *fakeZiti) SetIdentityRoles(_ context.Context, id string, roles []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.roles[id] = roles
	return nil
}

func (f *fakeZiti) DeleteShareService(_ context.Context, tok string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, tok)
	delete(f.dialRoles, tok)
	return nil
}

type fakePublisher struct {
	mu      sync.Mutex
	changes []store.FrontendChange
}

func (p *fakePublisher) Publish(cs []store.FrontendChange) {
	p.mu.Lock()
	p.changes = append(p.changes, cs...)
	p.mu.Unlock()
}

type env struct {
	t    *testing.T
	st   *store.Store
	srv  *httptest.Server
	ziti *fakeZiti
	pub  *fakePublisher
}

// options configure the API under test.
type options struct {
	Config
	Resolver service.Resolver
}

func newEnv(t *testing.T, configure ...func(*options)) *env {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, ziti: &fakeZiti{identities: map[string]bool{}, services: map[string]bool{}, dialRoles: map[string][]string{}, roles: map[string][]string{}}, pub: &fakePublisher{}}
	o := options{Config: Config{AdminToken: adminToken, Version: "test"}}
	for _, c := range configure {
		c(&o)
	}
	svc := service.New(st, e.ziti, e.pub, o.Resolver, zap.NewNop())
	e.srv = httptest.NewServer(New(o.Config, st, svc, zap.NewNop()))
	t.Cleanup(e.srv.Close)
	return e
}

// call sends body (a string sent as is) with token and decodes the answer into out.
func (e *env) call(method, path, token, body string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			e.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.t.Fatalf("%s %s: decoding answer: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// publicShare creates a public share of http://localhost:3000.
func (e *env) publicShare(tok, envID string) apitypes.Share {
	e.t.Helper()
	var sh apitypes.Share
	if code := e.call("POST", "/api/v1/shares", tok, `{"environment_id":"`+envID+`","target":"http://localhost:3000"}`, &sh); code != 201 {
		e.t.Fatalf("create share: %d", code)
	}
	return sh
}

// setup makes a namespace, a frontend serving it and an account with an environment.
func (e *env) setup() (accountToken, envID string) {
	e.t.Helper()
	var fe apitypes.Frontend
	if code := e.call("POST", "/api/v1/namespaces", adminToken, `{"name":"share.example.com"}`, &struct{}{}); code != 201 {
		e.t.Fatalf("create namespace: %d", code)
	}
	if code := e.call("POST", "/api/v1/frontends", adminToken, `{"url_template":"https://{host}"}`, &fe); code != 201 {
		e.t.Fatalf("create frontend: %d", code)
	}
	if code := e.call("POST", "/api/v1/frontends/"+fe.Token+"/namespaces", adminToken, `{"namespace":"share.example.com"}`, &struct{}{}); code != 201 {
		e.t.Fatalf("map namespace: %d", code)
	}
	return e.account("a@example.com")
}

func (e *env) account(email string) (string, string) {
	e.t.Helper()
	var acct apitypes.Account
	if code := e.call("POST", "/api/v1/accounts", adminToken, `{"email":"`+email+`"}`, &acct); code != 201 {
		e.t.Fatalf("create account: %d", code)
	}
	var en apitypes.Environment
	if code := e.call("POST", "/api/v1/environments", acct.Token, `{"description":"laptop"}`, &en); code != 201 {
		e.t.Fatalf("create environment: %d", code)
	}
	return acct.Token, en.ID
}

// The share list pages: the client follows the Link header to every share,
// each once, and a page holds what its limit asks.
func TestSharesPage(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	want := map[string]bool{}
	for range 5 {
		want[e.publicShare(tok, envID).Token] = true
	}
	cl := apiclient.New(e.srv.URL, tok)
	ctx := context.Background()
	seen := map[string]int{}
	pages := 0
	for cursor := ""; ; pages++ {
		page, next, err := cl.SharesPage(ctx, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(page) != 2 {
			t.Fatalf("a page of %d shares before the last, want 2", len(page))
		}
		for _, sh := range page {
			seen[sh.Token]++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 2 || len(seen) != len(want) {
		t.Errorf("pages of 2 over 5 shares: %d pages after the first, %d shares %v; want 2 and 5", pages, len(seen), seen)
	}
	for tok, n := range seen {
		if !want[tok] || n != 1 {
			t.Errorf("share %s listed %d times (one of ours: %v)", tok, n, want[tok])
		}
	}
	all, err := cl.Shares(ctx)
	if err != nil || len(all) != 5 {
		t.Errorf("Shares: %d shares, %v; want 5", len(all), err)
	}
}

func TestBadInputGetsAClearErrorAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	shareBody := func(target string) string {
		b, _ := json.Marshal(map[string]string{"environment_id": envID, "target": target})
		return string(b)
	}
	e.wantErrors([]badRequest{
		{"malformed JSON", "POST", "/api/v1/shares", tok, `{"target":`, 400, "bad_request", "malformed request body"},
		{"not an object", "POST", "/api/v1/shares", tok, `[1,2]`, 400, "bad_request", "malformed request body"},
		{"empty body", "POST", "/api/v1/shares", tok, ``, 400, "bad_request", "empty body"},
		{"trailing data", "POST", "/api/v1/shares", tok, shareBody("http://localhost:3000") + `{}`, 400, "bad_request", "unexpected data"},
		{"unknown field", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","colour":"red"}`, 400, "bad_request", `unknown field "colour"`},
		{"target not a URL", "POST", "/api/v1/shares", tok, shareBody("localhost 3000"), 400, "bad_request", "is not an http:// or https:// URL"},
		{"target wrong scheme", "POST", "/api/v1/shares", tok, shareBody("ftp://localhost:21"), 400, "bad_request", "is not an http:// or https:// URL"},
		{"target without host", "POST", "/api/v1/shares", tok, shareBody("http://"), 400, "bad_request", "is not an http:// or https:// URL"},
		{"unsupported share mode", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","share_mode":"secret"}`, 400, "bad_request", "share_mode"},
		{"missing environment", "POST", "/api/v1/shares", tok, `{"target":"http://x"}`, 400, "bad_request", "environment_id is required"},
		{"unknown environment", "POST", "/api/v1/shares", tok, `{"environment_id":"nope","target":"http://x"}`, 404, "not_found", "environment nope"},
		{"unknown namespace", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","namespace":"other.example.com"}`, 404, "not_found", "namespace other.example.com"},
		{"unknown share", "GET", "/api/v1/shares/nosuchshare", tok, ``, 404, "not_found", "share nosuchshare"},
		{"delete unknown share", "DELETE", "/api/v1/shares/nosuchshare", tok, ``, 404, "not_found", "share nosuchshare"},
		{"wrong token", "GET", "/api/v1/shares", "wrong-token", ``, 401, "unauthorized", "unknown account token"},
		{"no token", "GET", "/api/v1/shares", "", ``, 401, "unauthorized", "missing Authorization"},
		{"page limit not a number", "GET", "/api/v1/shares?limit=ten", tok, ``, 400, "bad_request", `limit "ten": want a whole number from 1 to 1000`},
		{"page limit zero", "GET", "/api/v1/shares?limit=0", tok, ``, 400, "bad_request", "from 1 to 1000"},
		{"page limit too large", "GET", "/api/v1/shares?limit=1001", tok, ``, 400, "bad_request", "from 1 to 1000"},
		{"page cursor not base64", "GET", "/api/v1/shares?cursor=%25%25", tok, ``, 400, "bad_request", "cursor: malformed"},
		{"page cursor not ours", "GET", "/api/v1/shares?cursor=e30", tok, ``, 400, "bad_request", "cursor: malformed"},
		{"account token on admin call", "POST", "/api/v1/namespaces", tok, `{"name":"x.example.com"}`, 403, "forbidden", "admin token"},
		{"namespace not a DNS name", "POST", "/api/v1/namespaces", adminToken, `{"name":"bad_name.example.com"}`, 400, "bad_request", "is not a DNS name"},
		{"namespace taken", "POST", "/api/v1/namespaces", adminToken, `{"name":"share.example.com"}`, 409, "conflict", "already exists"},
		{"email taken", "POST", "/api/v1/accounts", adminToken, `{"email":"a@example.com"}`, 409, "conflict", "already exists"},
		{"email invalid", "POST", "/api/v1/accounts", adminToken, `{"email":"not an email"}`, 400, "bad_request", "not an email address"},
		{"url template without host", "POST", "/api/v1/frontends", adminToken, `{"url_template":"https://example.com"}`, 400, "bad_request", "{host}"},
		{"map unknown frontend", "POST", "/api/v1/frontends/nope/namespaces", adminToken, `{"namespace":"share.example.com"}`, 404, "not_found", "frontend nope"},
		{"unknown endpoint", "GET", "/api/v1/nothing", tok, ``, 404, "not_found", "no such endpoint"},
		{"unknown backend mode", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","backend_mode":"ftp"}`, 400, "bad_request", "backend_mode \"ftp\""},
		{"tunnel on a public share", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"localhost:22","backend_mode":"tcpTunnel"}`, 400, "bad_request", "needs a private share"},
		{"tunnel target not host:port", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"localhost","backend_mode":"tcpTunnel","share_mode":"private"}`, 400, "bad_request", "not a host:port"},
		{"web without a directory", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","backend_mode":"web"}`, 400, "bad_request", "target is required"},
		{"name on an ephemeral share", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","name":"app"}`, 400, "bad_request", "name is for reserved shares"},
		{"reserved without a name", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","reserved":true}`, 400, "bad_request", "needs a name"},
		{"reserved name not a label", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","reserved":true,"name":"my_app"}`, 400, "bad_request", "not a DNS label"},
		{"reserved name with a dot", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","reserved":true,"name":"a.b"}`, 400, "bad_request", "not a DNS label"},
		{"reserved name too long", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","reserved":true,"name":"` + strings.Repeat("a", 64) + `"}`, 400, "bad_request", "not a DNS label"},
		{"policy on a private share", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","share_mode":"private","policy":{}}`, 400, "bad_request", "only to public shares"},
		{"policy sets agents", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"agents":["a"]}}`, 400, "bad_request", `unknown field "agents"`},
		{"policy password not hashed", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"basic_auth":[{"username":"a","password_hash":"plain"}]}}`, 400, "bad_request", "bcrypt"},
		{"policy bad CIDR", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"ip_deny":["10.0.0.300/8"]}}`, 400, "bad_request", "10.0.0.300/8"},
		{"policy bad header name", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"request_headers":{"set":{"Bad Header":"x"}}}}`, 400, "bad_request", "Bad Header"},
		{"policy oauth without provider", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"oauth":{}}}`, 400, "bad_request", "provider"},
		{"policy unknown field", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"colour":"red"}}`, 400, "bad_request", `unknown field "colour"`},
		{"policy too large", "POST", "/api/v1/shares", tok, shareWithPolicy(envID, bigHeaders(9)), 400, "bad_request", "bytes as JSON; at most 32768"},
		{"policy too many rules", "POST", "/api/v1/shares", tok, `{"environment_id":"` + envID + `","target":"http://x","policy":{"ip_deny":[` + strings.Repeat(`"10.0.0.1",`, 500) + `"10.0.0.2"]}}`, 400, "bad_request", "ip_deny has 501 entries; at most 500"},
		{"grant without email", "POST", "/api/v1/namespaces/share.example.com/grants", adminToken, `{}`, 400, "bad_request", "email is required"},
		{"grant unknown account", "POST", "/api/v1/namespaces/share.example.com/grants", adminToken, `{"email":"nobody@example.com"}`, 404, "not_found", "account nobody@example.com"},
		{"grant unknown namespace", "POST", "/api/v1/namespaces/nope.example.com/grants", adminToken, `{"email":"a@example.com"}`, 404, "not_found", "namespace nope.example.com"},
		{"grant as an account", "POST", "/api/v1/namespaces/share.example.com/grants", tok, `{"email":"a@example.com"}`, 403, "forbidden", "admin token"},
		{"agent of unknown share", "POST", "/api/v1/shares/nosuchshare/agents", tok, `{"id":"a1","target":"http://x"}`, 404, "not_found", "share nosuchshare"},
		{"domain on unknown share", "POST", "/api/v1/shares/nosuchshare/domains", tok, `{"domain":"app.example.org"}`, 404, "not_found", "share nosuchshare"},
	})
	// None of it made a share, an overlay service or a mapping change.
	var shares []apitypes.Share
	e.call("GET", "/api/v1/shares", tok, "", &shares)
	if len(shares) != 0 || len(e.ziti.services) != 0 {
		t.Errorf("bad input left %d shares and %d services", len(shares), len(e.ziti.services))
	}
	for _, c := range e.pub.changes {
		t.Errorf("bad input published %+v", c)
	}
}

// bigHeaders is a policy with n response headers of the largest value.
func bigHeaders(n int) string {
	set := map[string]string{}
	for i := range n {
		set[fmt.Sprintf("X-Filler-%d", i)] = strings.Repeat("v", policy.MaxValueBytes)
	}
	b, _ := json.Marshal(map[string]any{"response_headers": map[string]any{"set": set}})
	return string(b)
}

func shareWithPolicy(envID, policy string) string {
	return `{"environment_id":"` + envID + `","target":"http://x","policy":` + policy + `}`
}

// One account once could fill every frontend's journal with large policies.
// Its mapping changes are counted now: past the hour's budget it gets 429
// and changes nothing, while other accounts go on and it may still delete.
func TestJournalBudget(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	other, otherEnv := e.account("b@example.com")
	e.st.SetJournalBudget(100 << 10)

	var created []apitypes.Share
	for {
		var sh apitypes.Share
		code := e.call("POST", "/api/v1/shares", tok, shareWithPolicy(envID, bigHeaders(6)), &sh)
		if code == http.StatusTooManyRequests {
			break
		}
		if code != 201 {
			t.Fatalf("share %d: %d", len(created)+1, code)
		}
		if created = append(created, sh); len(created) > 10 {
			t.Fatal("ten 24 KiB shares fit in a budget of 100 KiB")
		}
	}
	if len(created) != 4 {
		t.Errorf("%d shares of 24 KiB fit in 100 KiB, want 4", len(created))
	}
	published := len(e.pub.changes)

	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/shares", strings.NewReader(shareWithPolicy(envID, bigHeaders(6))))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got apitypes.Error
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || got.Code != "too_many_changes" || !strings.Contains(got.Message, "try again in") || retry < 1 || retry > 3601 {
		t.Errorf("over budget: %d %+v Retry-After %q; want 429 too_many_changes with a retry time", resp.StatusCode, got, resp.Header.Get("Retry-After"))
	}
	var shares []apitypes.Share
	e.call("GET", "/api/v1/shares", tok, "", &shares)
	if len(shares) != len(created) || len(e.ziti.services) != len(created) || len(e.pub.changes) != published {
		t.Errorf("refused shares left %d shares, %d services, %d more changes", len(shares)-len(created), len(e.ziti.services)-len(created), len(e.pub.changes)-published)
	}
	if code := e.call("POST", "/api/v1/shares", other, shareWithPolicy(otherEnv, bigHeaders(6)), &apitypes.Share{}); code != 201 {
		t.Errorf("another account's share: %d, want 201", code)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+created[0].Token, tok, "", nil); code != 204 {
		t.Errorf("deleting a share over budget: %d, want 204", code)
	}
}

// badRequest is a request that must fail with status, code and a message
// that contains message.
type badRequest struct {
	name, method, path, token, body string
	status                          int
	code, message                   string
}

// wantErrors sends each request and checks its error answer.
func (e *env) wantErrors(tests []badRequest) {
	for _, tt := range tests {
		e.t.Run(tt.name, func(t *testing.T) {
			var got apitypes.Error
			if status := e.call(tt.method, tt.path, tt.token, tt.body, &got); status != tt.status {
				t.Errorf("status = %d, want %d (%+v)", status, tt.status, got)
			}
			if got.Code != tt.code || !strings.Contains(got.Message, tt.message) {
				t.Errorf("error = %+v, want code %q and a message containing %q", got, tt.code, tt.message)
			}
		})
	}
}

func TestShareLifecycle(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	sh := e.publicShare(tok, envID)
	if sh.Host != sh.Token+".share.example.com" || len(sh.FrontendEndpoints) != 1 || sh.FrontendEndpoints[0] != "https://"+sh.Host {
		t.Fatalf("share = %+v", sh)
	}
	if !e.ziti.services[sh.Token] || len(e.pub.changes) != 1 || e.pub.changes[0].Name != sh.Host {
		t.Fatalf("create did not make the service and publish one mapping: %v %+v", e.ziti.services, e.pub.changes)
	}
	var got apitypes.Share
	if code := e.call("GET", "/api/v1/shares/"+sh.Token, tok, "", &got); code != 200 || got.Token != sh.Token {
		t.Fatalf("get share: %d %+v", code, got)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token, tok, "", nil); code != 204 {
		t.Fatalf("delete share: %d", code)
	}
	if e.ziti.services[sh.Token] || len(e.pub.changes) != 2 || e.pub.changes[1].Op.String() != "delete" {
		t.Fatalf("delete did not remove the service and publish a tombstone: %v %+v", e.ziti.services, e.pub.changes)
	}
}

func TestOverlayDownIs503AndChangesNothing(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	e.ziti.fail = errors.New("ziti controller unreachable")
	var got apitypes.Error
	if code := e.call("POST", "/api/v1/shares", tok, `{"environment_id":"`+envID+`","target":"http://localhost:3000"}`, &got); code != 503 {
		t.Fatalf("status = %d, want 503", code)
	}
	if got.Code != "unavailable" || !strings.Contains(got.Message, "did not answer; try again (error ") || strings.Contains(got.Message, "ziti controller unreachable") {
		t.Errorf("error = %+v; want a 503 that keeps the cause for the log", got)
	}
	var shares []apitypes.Share
	e.call("GET", "/api/v1/shares", tok, "", &shares)
	if len(shares) != 0 || len(e.pub.changes) != 0 {
		t.Errorf("a failed create left %d shares and %d changes", len(shares), len(e.pub.changes))
	}
}

// An OpenZiti cluster without quorum refuses changes: the caller learns
// that, and when to try again, and nothing is half made.
func TestOverlayWithoutQuorumSaysSo(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	e.ziti.fail = fmt.Errorf("creating service: %w", zitiauto.ErrNoQuorum)
	var got apitypes.Error
	if code := e.call("POST", "/api/v1/shares", tok, `{"environment_id":"`+envID+`","target":"http://localhost:3000"}`, &got); code != 503 {
		t.Fatalf("status = %d, want 503", code)
	}
	if got.Code != "overlay_no_quorum" || !strings.Contains(got.Message, "no quorum") {
		t.Errorf("error = %+v; want a 503 that says the overlay has no quorum", got)
	}
	var shares []apitypes.Share
	e.call("GET", "/api/v1/shares", tok, "", &shares)
	if len(shares) != 0 || len(e.pub.changes) != 0 {
		t.Errorf("a refused create left %d shares and %d changes", len(shares), len(e.pub.changes))
	}
}

func TestAccountsSeeOnlyTheirOwn(t *testing.T) {
	e := newEnv(t)
	alice, aliceEnv := e.setup()
	bob, _ := e.account("b@example.com")
	var sh apitypes.Share
	e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","target":"http://localhost:3000"}`, &sh)
	var shares []apitypes.Share
	if e.call("GET", "/api/v1/shares", bob, "", &shares); len(shares) != 0 {
		t.Errorf("bob sees %d shares", len(shares))
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/shares/" + sh.Token, ""},
		{"DELETE", "/api/v1/shares/" + sh.Token, ""},
		{"DELETE", "/api/v1/environments/" + aliceEnv, ""},
		{"POST", "/api/v1/shares", `{"environment_id":"` + aliceEnv + `","target":"http://x"}`},
	} {
		if code := e.call(c.method, c.path, bob, c.body, &apitypes.Error{}); code != 404 {
			t.Errorf("bob %s %s = %d, want 404", c.method, c.path, code)
		}
	}
	if !e.ziti.services[sh.Token] {
		t.Error("alice's share lost its service")
	}
}

func TestOverlayWarnings(t *testing.T) {
	warn := "edge router er runs OpenZiti v1.6.0 without the fix for openziti/ziti#3072"
	e := newEnv(t, func(c *options) {
		c.OverlayWarnings = func(context.Context) []string { return []string{warn} }
	})
	tok, _ := e.setup()
	var out struct {
		Warnings []string `json:"warnings"`
	}
	if code := e.call("GET", "/api/v1/overlay", tok, "", &out); code != 200 || len(out.Warnings) != 1 || out.Warnings[0] != warn {
		t.Fatalf("GET /api/v1/overlay = %d %+v", code, out)
	}
	if code := e.call("GET", "/api/v1/overlay", "wrong-token", "", nil); code != 401 {
		t.Fatalf("GET /api/v1/overlay with a wrong token = %d, want 401", code)
	}
	// A controller that knows of nothing wrong says so with an empty list.
	e = newEnv(t)
	tok, _ = e.setup()
	if code := e.call("GET", "/api/v1/overlay", tok, "", &out); code != 200 || out.Warnings == nil || len(out.Warnings) != 0 {
		t.Fatalf("GET /api/v1/overlay without warnings = %d %+v", code, out)
	}
}

// Only the frontends that serve a share's namespace may dial it: a public
// share's Dial policy names the namespace's role, and mapping a namespace
// gives the frontend's identity that role.
func TestPublicSharesAreDialledByTheirNamespacesFrontends(t *testing.T) {
	e := newEnv(t)
	tok, envID := e.setup()
	sh := e.publicShare(tok, envID)
	stored, err := e.st.ShareByToken(context.Background(), sh.Token)
	if err != nil {
		t.Fatal(err)
	}
	nsRole := zitiauto.NamespaceRole(stored.NamespaceID)
	want := "#" + nsRole
	if got := e.ziti.dialRoles[sh.Token]; len(got) != 1 || got[0] != want {
		t.Errorf("the share's dial roles = %v, want [%s]", got, want)
	}
	var fronts []apitypes.Frontend
	e.call("GET", "/api/v1/frontends", adminToken, "", &fronts)
	if len(fronts) != 1 {
		t.Fatalf("%d frontends", len(fronts))
	}
	if got := e.ziti.roles[fronts[0].ZitiIdentityID]; !slices.Equal(got, []string{zitiauto.RoleFrontend, nsRole}) {
		t.Errorf("the frontend's roles = %v, want portico-frontend and the namespace's", got)
	}
	// Another frontend, serving nothing yet, has no namespace role.
	var other apitypes.Frontend
	e.call("POST", "/api/v1/frontends", adminToken, `{"url_template":"https://{host}"}`, &other)
	if got := e.ziti.roles[other.ZitiIdentityID]; len(got) != 0 {
		t.Errorf("an unmapped frontend got roles %v", got)
	}
}
