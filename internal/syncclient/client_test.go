package syncclient

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/syncapi"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/syncpb"
	"github.com/porticoproxy/portico/internal/testenv"
)

const secret = "frontend-secret"

// controller is a real sync service on a real store, over TCP.
type controller struct {
	st   *store.Store
	hub  *syncapi.Hub
	addr string
	srv  *grpc.Server
	acct store.Account
	env  store.Environment
	ns   store.Namespace
}

// newController starts the controller; register, if set, registers the
// service in place of the real one.
func newController(t *testing.T, register func(*grpc.Server, *controller), opts ...grpc.ServerOption) *controller {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &controller{st: st, hub: syncapi.NewHub()}
	now := time.Now().UTC()
	c.acct = store.Account{ID: "acct", Email: "a@example.com", CreatedAt: now}
	c.env = store.Environment{ID: "env", AccountID: "acct", CreatedAt: now}
	c.ns = store.Namespace{ID: "ns", Name: "share.test", CreatedAt: now}
	for _, err := range []error{
		st.CreateAccount(ctx, c.acct, "h"),
		st.CreateEnvironment(ctx, c.env),
		st.CreateNamespace(ctx, c.ns),
		st.CreateFrontend(ctx, store.Frontend{ID: "fe", SecretHash: token.Hash(secret), CreatedAt: now}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.MapNamespace(ctx, "fe", c.ns.Name); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.srv = grpc.NewServer(opts...)
	if register != nil {
		register(c.srv, c)
	} else {
		syncapi.NewServer(st, c.hub, "test", zap.NewNop()).Register(c.srv)
	}
	go c.srv.Serve(ln)
	t.Cleanup(c.srv.Stop)
	return c
}

// share creates a share; publish=false commits it without telling the hub,
// as if the notification were lost.
func (c *controller) share(t *testing.T, tok string, publish bool) {
	t.Helper()
	changes, err := c.st.CreateShare(context.Background(), store.Share{Token: tok, AccountID: "acct", EnvironmentID: "env", NamespaceID: "ns",
		Namespace: c.ns.Name, Name: tok, ShareMode: "public", BackendMode: "proxy", Target: "http://x", ZitiServiceID: "s", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if publish {
		c.hub.Publish(changes)
	}
}

func (c *controller) unshare(t *testing.T, tok string, publish bool) {
	t.Helper()
	_, changes, err := c.st.DeleteShare(context.Background(), "acct", tok)
	if err != nil {
		t.Fatal(err)
	}
	if publish {
		c.hub.Publish(changes)
	}
}

func follow(t *testing.T, cfg Config) (*routes.Table, *Client) {
	t.Helper()
	return followLogged(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
}

// followLogged is follow with the client's logger.
func followLogged(t *testing.T, cfg Config, logger *zap.Logger) (*routes.Table, *Client) {
	t.Helper()
	if cfg.Frontend == "" {
		cfg.Frontend, cfg.Secret = "fe", secret
	}
	cfg.Instance, cfg.Version = "instance-"+t.Name(), "test"
	table := routes.NewTable()
	cl, err := New(cfg, table, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return table, cl
}

func has(table *routes.Table, tok string) bool {
	r, _ := table.Lookup(tok + ".share.test")
	return r != nil && r.Share == tok
}

func TestSnapshotThenWatch(t *testing.T) {
	c := newController(t, nil)
	c.share(t, "before", true)
	table, _ := follow(t, Config{Controllers: []string{c.addr}, ResyncInterval: time.Hour})
	testenv.Eventually(t, "snapshot", 5*time.Second, func() bool { return has(table, "before") })
	c.share(t, "after", true)
	testenv.Eventually(t, "watched upsert", 2*time.Second, func() bool { return has(table, "after") })
	c.unshare(t, "before", true)
	testenv.Eventually(t, "watched delete", 2*time.Second, func() bool { return !has(table, "before") })
	if table.Revision() != 3 {
		t.Errorf("revision = %d, want 3", table.Revision())
	}
}

// TestLostChangesAreRepairedByResync: changes committed without a
// notification, a delete included, reach the table within one interval.
func TestLostChangesAreRepairedByResync(t *testing.T) {
	c := newController(t, nil)
	c.share(t, "a", true)
	table, _ := follow(t, Config{Controllers: []string{c.addr}, ResyncInterval: 300 * time.Millisecond})
	testenv.Eventually(t, "snapshot", 5*time.Second, func() bool { return has(table, "a") })
	c.share(t, "lost", false)
	c.unshare(t, "a", false)
	testenv.Eventually(t, "repair of a lost upsert and a lost delete", 2*time.Second, func() bool { return has(table, "lost") && !has(table, "a") })
}

// TestGapPullsTheJournal: a change that arrives after a lost one is not
// applied out of order; the missing one is pulled first.
func TestGapPullsTheJournal(t *testing.T) {
	c := newController(t, nil)
	table, _ := follow(t, Config{Controllers: []string{c.addr}, ResyncInterval: time.Hour})
	testenv.Eventually(t, "snapshot", 5*time.Second, table.Loaded)
	c.share(t, "lost", false)
	c.share(t, "next", true)
	testenv.Eventually(t, "gap repair", 2*time.Second, func() bool { return has(table, "lost") && has(table, "next") })
	if table.Revision() != 2 {
		t.Errorf("revision = %d, want 2", table.Revision())
	}
}

func TestWrongSecretLoadsNothing(t *testing.T) {
	c := newController(t, nil)
	c.share(t, "a", true)
	table, cl := follow(t, Config{Controllers: []string{c.addr}, Frontend: "fe", Secret: "wrong"})
	testenv.Eventually(t, "an authentication error", 5*time.Second, func() bool { return cl.Status().LastError != "" })
	if table.Loaded() {
		t.Fatal("a wrong secret loaded the table")
	}
	if st := cl.Status(); st.Connected {
		t.Errorf("status = %+v, want disconnected", st)
	}
}

// TestCacheServesWhileNoControllerAnswers: a frontend that restarts while
// the controller is down serves its last known table.
func TestCacheServesWhileNoControllerAnswers(t *testing.T) {
	c := newController(t, nil)
	c.share(t, "a", true)
	cache := filepath.Join(t.TempDir(), "fe.json")
	table, _ := follow(t, Config{Controllers: []string{c.addr}, CacheFile: cache})
	testenv.Eventually(t, "snapshot", 5*time.Second, func() bool { return has(table, "a") })
	testenv.Eventually(t, "cache written", 3*time.Second, func() bool {
		t2 := routes.NewTable()
		ok, _ := t2.Load(cache)
		return ok && has(t2, "a")
	})
	c.srv.Stop()

	cold, _ := follow(t, Config{Controllers: []string{c.addr}, CacheFile: cache})
	testenv.Eventually(t, "cached routes", 2*time.Second, func() bool { return has(cold, "a") })
}

// A cache file that is not a table (truncated by a crash, edited by hand) is
// ignored with a warning: the frontend loads from the controller and writes
// a good cache again.
func TestCorruptCacheIsIgnored(t *testing.T) {
	for name, content := range map[string]string{"truncated": `{"revision":3,"mappings":[{"name":"a.sh`, "not json": "\x00\x01garbage", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			c := newController(t, nil)
			c.share(t, "a", true)
			cache := filepath.Join(t.TempDir(), "fe.json")
			if err := os.WriteFile(cache, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			table, _ := follow(t, Config{Controllers: []string{c.addr}, CacheFile: cache})
			testenv.Eventually(t, "the controller's table", 5*time.Second, func() bool { return has(table, "a") })
			testenv.Eventually(t, "a good cache written over the bad one", 3*time.Second, func() bool {
				t2 := routes.NewTable()
				ok, err := t2.Load(cache)
				return ok && err == nil && has(t2, "a")
			})
		})
	}
}

// badServer sends a malformed change, then a good one, on Watch.
type badServer struct {
	syncpb.UnimplementedSyncServer
	pulls chan struct{}
}

func (b *badServer) Snapshot(_ *syncpb.SnapshotRequest, s grpc.ServerStreamingServer[syncpb.SnapshotChunk]) error {
	return s.Send(&syncpb.SnapshotChunk{Revision: 0, Last: true})
}

func (b *badServer) Changes(context.Context, *syncpb.ChangesRequest) (*syncpb.ChangesResponse, error) {
	select {
	case b.pulls <- struct{}{}:
	default:
	}
	return &syncpb.ChangesResponse{Revision: 0}, nil
}

func (b *badServer) Watch(_ *syncpb.WatchRequest, s grpc.ServerStreamingServer[syncpb.Change]) error {
	for _, c := range []*syncpb.Change{
		{Revision: 1, Op: 99, Mapping: &syncpb.Mapping{Name: "x.share.test", Share: "x"}}, // unknown op
		{Revision: -5, Op: syncpb.Change_OP_UPSERT, Mapping: &syncpb.Mapping{Name: "y.share.test", Share: "y"}},
		{Revision: 1 << 62, Op: syncpb.Change_OP_UPSERT, Mapping: &syncpb.Mapping{Name: "z.share.test", Share: "z"}},
		{Revision: 1, Op: syncpb.Change_OP_UPSERT}, // no mapping
		{Revision: 1, Op: syncpb.Change_OP_UPSERT, Mapping: &syncpb.Mapping{Name: "good.share.test", Share: "good"}},
	} {
		if err := s.Send(c); err != nil {
			return err
		}
	}
	<-s.Context().Done()
	return nil
}

func TestMalformedChangesAreDroppedAndResync(t *testing.T) {
	bad := &badServer{pulls: make(chan struct{}, 1)}
	c := newController(t, func(g *grpc.Server, _ *controller) { syncpb.RegisterSyncServer(g, bad) })
	table, _ := follow(t, Config{Controllers: []string{c.addr}, ResyncInterval: time.Hour})
	select {
	case <-bad.pulls:
	case <-time.After(5 * time.Second):
		t.Fatal("a malformed change did not trigger a resync")
	}
	testenv.Eventually(t, "the good change", 2*time.Second, func() bool { return has(table, "good") })
	for _, tok := range []string{"x", "y", "z"} {
		if has(table, tok) {
			t.Errorf("malformed change for %s was applied", tok)
		}
	}
	if table.Revision() != 1 {
		t.Errorf("revision = %d, want 1", table.Revision())
	}
}

// TestTLS: a controller serving TLS is followed by a client that verifies
// it, and refused to one that speaks plaintext.
func TestTLS(t *testing.T) {
	certFile, keyFile, roots := testenv.SelfSignedCert(t)
	creds, err := credentials.NewServerTLSFromFile(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newController(t, nil, grpc.Creds(creds))
	c.share(t, "a", true)
	table, _ := follow(t, Config{Controllers: []string{c.addr}, TLS: &tls.Config{RootCAs: roots}})
	testenv.Eventually(t, "a snapshot over TLS", 5*time.Second, func() bool { return has(table, "a") })

	plain, cl := follow(t, Config{Controllers: []string{c.addr}})
	testenv.Eventually(t, "the plaintext client to fail", 5*time.Second, func() bool { return cl.Status().LastError != "" })
	if plain.Loaded() {
		t.Fatal("a plaintext client loaded the table from a TLS controller")
	}
}

// The controller's overlay warnings reach the frontend's log, each once.
func TestHeartbeatWarningsAreLoggedOnce(t *testing.T) {
	warn := "edge router er runs OpenZiti v1.6.0 without the fix for openziti/ziti#3072"
	var beats atomic.Int32
	withWarnings := grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if hb, ok := resp.(*syncpb.HeartbeatResponse); ok {
			beats.Add(1)
			hb.Warnings = []string{warn, warn}
		}
		return resp, err
	})
	c := newController(t, nil, withWarnings)
	core, logs := observer.New(zap.WarnLevel)
	followLogged(t, Config{Controllers: []string{c.addr}, HeartbeatInterval: 20 * time.Millisecond}, zap.New(core))
	testenv.Eventually(t, "several heartbeats", 10*time.Second, func() bool { return beats.Load() >= 5 })
	got := logs.FilterMessageSnippet("warns about the overlay").All()
	if len(got) != 1 || got[0].ContextMap()["warning"] != warn {
		t.Fatalf("logged %v, want the warning once", got)
	}
}

// failingChanges is the real sync service whose Changes always fails, as a
// page too large for the client once did, for ever.
type failingChanges struct{ *syncapi.Server }

func (failingChanges) Changes(context.Context, *syncpb.ChangesRequest) (*syncpb.ChangesResponse, error) {
	return nil, status.Error(codes.ResourceExhausted, "grpc: received message larger than max (4194305 vs. 4194304)")
}

// A frontend that restarts from an older cache pulls the journal; when a
// page of it fails, it takes a snapshot instead of failing on that page for
// as long as the journal keeps it.
func TestFailingJournalPageFallsBackToASnapshot(t *testing.T) {
	c := newController(t, func(g *grpc.Server, c *controller) {
		syncpb.RegisterSyncServer(g, failingChanges{syncapi.NewServer(c.st, c.hub, "test", zap.NewNop())})
	})
	c.share(t, "old", false)
	stale := routes.NewTable()
	stale.Replace(1, []mapping.Mapping{{Name: "old.share.test", Share: "old"}})
	c.unshare(t, "old", false)
	c.share(t, "new", false)

	cl, err := New(Config{Controllers: []string{c.addr}, Frontend: "fe", Secret: secret, Instance: "i"}, stale, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Pull(ctx); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if !has(stale, "new") || has(stale, "old") || stale.Revision() != 3 {
		t.Errorf("after the pull: new=%v old=%v revision=%d; want the snapshot (new only, revision 3)", has(stale, "new"), has(stale, "old"), stale.Revision())
	}
}
