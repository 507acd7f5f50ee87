package cluster

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/testenv"
)

// leaseTTL is the tests' lease: short, but far longer than a renewal takes under -race on a
// loaded 2-core machine, so a holder never loses its lease by being slow.
const leaseTTL = 3 * time.Second

// node runs a Node with one counting worker until the returned stop is called.
func node(t *testing.T, st *store.Store, id string, runs *atomic.Int64) (*Node, func()) {
	n := New(Config{Self: store.Controller{ID: id, StartedAt: time.Now()}, Heartbeat: 300 * time.Millisecond, LeaseTTL: leaseTTL}, st,
		[]Worker{{Name: "count", Every: 20 * time.Millisecond, Run: func(ctx context.Context) error {
			runs.Add(1)
			return nil
		}}}, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return n, stop
}

func TestOneHolderAndFailover(t *testing.T) {
	for _, kind := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "c.db") }},
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }}, // a missing server fails only this case
	} {
		t.Run(kind.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), kind.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var runs1, runs2 atomic.Int64
			n1, stop1 := node(t, st, "c1", &runs1)
			testenv.Eventually(t, "c1 taking the lease", 3*time.Second, func() bool { return n1.Holds("count") })
			n2, _ := node(t, st, "c2", &runs2)
			time.Sleep(leaseTTL + 500*time.Millisecond) // longer than a lease: c2 must not have taken it
			if n2.Holds("count") || runs2.Load() != 0 {
				t.Fatalf("both controllers run the worker (c2 ran %d times)", runs2.Load())
			}
			if cs, _ := st.Controllers(context.Background(), time.Now().Add(-5*time.Second)); len(cs) != 2 {
				t.Errorf("%d live controllers, want 2", len(cs))
			}
			stop1()
			ran := runs1.Load()
			testenv.Eventually(t, "c2 taking over", 2*leaseTTL, func() bool { return n2.Holds("count") && runs2.Load() > 0 })
			if runs1.Load() != ran {
				t.Error("c1's worker ran after it stopped")
			}
			if cs, _ := st.Controllers(context.Background(), time.Now().Add(-5*time.Second)); len(cs) != 1 || cs[0].ID != "c2" {
				t.Errorf("live controllers after c1 stopped = %+v", cs)
			}
		})
	}
}
