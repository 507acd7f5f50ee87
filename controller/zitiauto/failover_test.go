package zitiauto

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeMember is one controller of a cluster as far as failover cares: it
// hands out its own session tokens, refuses the others', can lose its
// leader, and lists the members it is told of.
type fakeMember struct {
	name     string
	srv      *httptest.Server
	noLeader atomic.Bool
	calls    atomic.Int32 // requests other than logins
	mu       sync.Mutex
	peers    []*fakeMember // what GET /controllers lists
	leader   string        // the member GET /fabric/v1/cluster/list-members says leads
}

func newFakeMember(t *testing.T, name string) *fakeMember {
	f := &fakeMember{name: name}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMember) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"%s says no"}}`, code, f.name)
	}
	path := strings.TrimPrefix(r.URL.Path, managementPath+"/")
	if path == "authenticate" {
		fmt.Fprintf(w, `{"data":{"token":"token-of-%s"}}`, f.name)
		return
	}
	f.calls.Add(1)
	switch {
	case r.Header.Get("zt-session") != "token-of-"+f.name:
		fail(http.StatusUnauthorized, "UNAUTHORIZED")
	case path == "controllers" || path == "/fabric/v1/cluster/list-members":
		f.mu.Lock()
		defer f.mu.Unlock()
		var out struct {
			Data []map[string]any `json:"data"`
		}
		for _, p := range f.peers {
			out.Data = append(out.Data, map[string]any{"id": p.name, "leader": p.name == f.leader, "apiAddresses": map[string]any{
				"edge-management": []map[string]string{{"url": p.srv.URL + managementPath, "version": "v1"}},
				"edge-client":     []map[string]string{{"url": p.srv.URL + "/edge/client/v1", "version": "v1"}},
			}})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && f.noLeader.Load():
		fail(http.StatusServiceUnavailable, "CLUSTER_NO_LEADER")
	case r.Method == http.MethodPost:
		fmt.Fprintf(w, `{"data":{"id":"made-by-%s"}}`, f.name)
	default:
		fmt.Fprint(w, `{"data":[],"meta":{"pagination":{"totalCount":0}}}`)
	}
}

// downAddr is an https address nothing listens on.
func downAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

// fakeClient is a client of the given members, trusting the test servers'
// certificate (every httptest server has the same).
func fakeClient(t *testing.T, failoverFor time.Duration, urls ...string) *Client {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, block, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{ManagementURLs: urls, Username: "admin", Password: "admin", CAFile: ca, FailoverFor: failoverFor})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A member that is down is passed over, and then no longer tried first.
func TestFailoverPassesAMemberThatIsDown(t *testing.T) {
	up := newFakeMember(t, "b")
	c := fakeClient(t, 5*time.Second, downAddr(t), up.srv.URL)
	for range 3 {
		id, err := c.create(context.Background(), "services", map[string]string{})
		if err != nil || id != "made-by-b" {
			t.Fatalf("create = %q, %v; want it made by the member that is up", id, err)
		}
	}
	if got := c.snapshot()[0].ctrl; got != up.srv.URL {
		t.Errorf("preferred member %s, want %s", got, up.srv.URL)
	}
}

// Sessions are per member: after a member goes, the next is logged in to,
// not sent the old member's token.
func TestFailoverLogsInToEachMember(t *testing.T) {
	a, b := newFakeMember(t, "a"), newFakeMember(t, "b")
	c := fakeClient(t, 5*time.Second, a.srv.URL, b.srv.URL)
	if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-a" {
		t.Fatalf("create on a = %q, %v", id, err)
	}
	a.srv.Close()
	if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-b" {
		t.Fatalf("create after a went = %q, %v; want it made by b", id, err)
	}
}

// The members the first one lists are learnt and used when it goes.
func TestFailoverUsesDiscoveredMembers(t *testing.T) {
	a, b := newFakeMember(t, "a"), newFakeMember(t, "b")
	a.peers = []*fakeMember{a, b}
	c := fakeClient(t, 5*time.Second, a.srv.URL)
	if _, err := c.list(context.Background(), "services", ""); err != nil {
		t.Fatal(err)
	}
	a.srv.Close()
	if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-b" {
		t.Fatalf("create after the only configured member went = %q, %v; want it made by the discovered one", id, err)
	}
}

// Calls go to the leader once it is known: a follower forwards each write
// and then waits to apply it.
func TestFailoverPrefersTheLeader(t *testing.T) {
	a, b := newFakeMember(t, "a"), newFakeMember(t, "b")
	a.peers, a.leader = []*fakeMember{a, b}, "b"
	c := fakeClient(t, 5*time.Second, a.srv.URL)
	if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-a" {
		t.Fatalf("first create = %q, %v; want it made by the only member known", id, err)
	}
	if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-b" {
		t.Fatalf("second create = %q, %v; want it made by the leader", id, err)
	}
	// The leader goes: the call moves to a, which then names a new leader.
	a.mu.Lock()
	a.leader = "a"
	a.mu.Unlock()
	b.srv.Close()
	for want := range 2 {
		if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-a" {
			t.Fatalf("create %d after the leader went = %q, %v", want, id, err)
		}
	}
	if got := c.snapshot()[0].ctrl; got != a.srv.URL {
		t.Errorf("preferred member %s, want the new leader %s", got, a.srv.URL)
	}
}

// Without a leader a change fails, within the bound, with ErrNoQuorum; once
// the cluster has one again, the same call works.
func TestFailoverWithoutQuorum(t *testing.T) {
	a, b := newFakeMember(t, "a"), newFakeMember(t, "b")
	a.noLeader.Store(true)
	b.noLeader.Store(true)
	c := fakeClient(t, 2*time.Second, a.srv.URL, b.srv.URL)
	began := time.Now()
	_, err := c.create(context.Background(), "services", nil)
	if !errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("create without a leader: %v, want ErrNoQuorum", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("it took %s, past the 2 s bound", d)
	}
	// Reads still work without a leader.
	if _, err := c.list(context.Background(), "services", ""); err != nil {
		t.Errorf("list without a leader: %v", err)
	}
	// An election that ends within the bound is waited out.
	go func() {
		time.Sleep(300 * time.Millisecond)
		b.noLeader.Store(false)
	}()
	if id, err := c.create(context.Background(), "services", nil); err != nil || id != "made-by-b" {
		t.Errorf("create across an election = %q, %v", id, err)
	}
}

// A member that did not answer, or answered 503, is left for another; an
// answer that is the caller's fault, or a 500 to a create, is final.
func TestRetryable(t *testing.T) {
	dial := &url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	read := &url.Error{Op: "Post", URL: "https://x", Err: io.EOF}
	for _, tt := range []struct {
		method string
		err    error
		want   bool
	}{
		{http.MethodPost, nil, false},
		{http.MethodPost, dial, true},
		{http.MethodPost, read, true},
		{http.MethodGet, read, true},
		{http.MethodDelete, context.DeadlineExceeded, true},
		{http.MethodGet, context.Canceled, false},
		{http.MethodGet, &url.Error{Op: "Get", URL: "https://x", Err: context.Canceled}, false},
		{http.MethodPost, &APIError{Status: 503, Code: "CLUSTER_NO_LEADER"}, true},
		{http.MethodPost, &APIError{Status: 500}, false},
		{http.MethodPost, &APIError{Status: 500, Code: "UNHANDLED", Message: "An unhandled error occurred: error dialing peer tls:127.0.0.1:1280: dial tcp 127.0.0.1:1280: connect: connection refused"}, true},
		{http.MethodPatch, &APIError{Status: 500}, true},
		{http.MethodGet, &APIError{Status: 404, Code: "NOT_FOUND"}, false},
		{http.MethodPost, &APIError{Status: 400, Code: "COULD_NOT_VALIDATE"}, false},
		{http.MethodGet, fmt.Errorf("authenticating: %w", dial), true},
		{http.MethodPost, fmt.Errorf("authenticating: %w", &APIError{Status: 401, Code: "INVALID_AUTH"}), false},
	} {
		if got := retryable(tt.method, tt.err); got != tt.want {
			t.Errorf("retryable(%s, %v) = %v, want %v", tt.method, tt.err, got, tt.want)
		}
	}
}
