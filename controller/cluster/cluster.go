// Package cluster keeps a controller's membership row alive and runs the
// singleton workers, each on exactly one live controller at a time, under
// leases in the shared database.
package cluster

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
)

// Store is what the cluster keeps its state in.
type Store interface {
	HeartbeatController(ctx context.Context, c store.Controller) error
	RemoveController(ctx context.Context, id string) error
	AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Worker is a job that must run on one controller at a time.
type Worker struct {
	// Name is also the name of its lease.
	Name string
	// Every is how often Run is called while this controller holds the lease.
	Every time.Duration
	// Run does one round of work. It must stop when ctx ends: that is how a
	// lost lease stops it.
	Run func(ctx context.Context) error
}

// Config tunes a Node.
type Config struct {
	// Self is this controller's membership row.
	Self store.Controller
	// Heartbeat is how often the membership row is refreshed. Default 3 s.
	Heartbeat time.Duration
	// LeaseTTL is how long a lease lasts unless renewed; it bounds the
	// fail-over time. Default 8 s. Leases are renewed every LeaseTTL/4.
	LeaseTTL time.Duration
}

// Node is this controller's place in the cluster.
type Node struct {
	cfg     Config
	store   Store
	workers []Worker
	logger  *zap.Logger

	mu   sync.Mutex
	held map[string]bool
}

// New returns a node that will run workers under leases.
func New(cfg Config, st Store, workers []Worker, logger *zap.Logger) *Node {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 3 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 8 * time.Second
	}
	return &Node{cfg: cfg, store: st, workers: workers, logger: logger, held: map[string]bool{}}
}

// Holds reports whether this controller runs the named worker now.
func (n *Node) Holds(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.held[name]
}

// Run heartbeats and runs the workers until ctx ends, then gives up its
// leases and its membership row so that another controller takes over at once.
func (n *Node) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1 + len(n.workers))
	go func() { defer wg.Done(); n.heartbeat(ctx) }()
	for _, w := range n.workers {
		go func() { defer wg.Done(); n.lease(ctx, w) }()
	}
	wg.Wait()

	done, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, w := range n.workers {
		if err := n.store.ReleaseLease(done, w.Name, n.cfg.Self.ID); err != nil {
			n.logger.Warn("releasing lease", zap.String("lease", w.Name), zap.Error(err))
		}
	}
	if err := n.store.RemoveController(done, n.cfg.Self.ID); err != nil {
		n.logger.Warn("removing membership row", zap.Error(err))
	}
}

func (n *Node) heartbeat(ctx context.Context) {
	self := n.cfg.Self
	for {
		self.HeartbeatAt = time.Now().UTC()
		if err := n.store.HeartbeatController(ctx, self); err != nil && ctx.Err() == nil {
			n.logger.Warn("controller heartbeat failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.Heartbeat):
		}
	}
}

// lease keeps trying to take w's lease, runs w while it holds it, and stops
// w as soon as it can no longer be sure it holds it.
func (n *Node) lease(ctx context.Context, w Worker) {
	var (
		running   *run
		heldUntil time.Time
	)
	release := func() {
		if running != nil {
			running.stop()
			running = nil
			n.setHeld(w.Name, false)
			n.logger.Info("lease lost; worker stopped", zap.String("worker", w.Name))
		}
	}
	defer release()
	tick := time.NewTicker(n.cfg.LeaseTTL / 4)
	defer tick.Stop()
	for {
		now := time.Now().UTC()
		ok, err := n.store.AcquireLease(ctx, w.Name, n.cfg.Self.ID, now, now.Add(n.cfg.LeaseTTL))
		switch {
		case err != nil && ctx.Err() == nil:
			n.logger.Warn("renewing lease", zap.String("lease", w.Name), zap.Error(err))
			// Not knowing is not holding: stop before the lease may have
			// passed to another controller.
			if time.Now().After(heldUntil.Add(-n.cfg.LeaseTTL / 4)) {
				release()
			}
		case ok:
			heldUntil = now.Add(n.cfg.LeaseTTL)
			if running == nil {
				running = n.start(ctx, w)
				n.setHeld(w.Name, true)
				n.logger.Info("lease taken; worker started", zap.String("worker", w.Name))
			}
		default:
			release()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// run is a worker running under a lease.
type run struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) start(ctx context.Context, w Worker) *run {
	ctx, cancel := context.WithCancel(ctx)
	r := &run{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); n.work(ctx, w) }()
	return r
}

// stop cancels the worker and waits until its round has returned.
func (r *run) stop() {
	r.cancel()
	<-r.done
}

func (n *Node) setHeld(name string, held bool) {
	n.mu.Lock()
	n.held[name] = held
	n.mu.Unlock()
}

func (n *Node) work(ctx context.Context, w Worker) {
	for {
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			n.logger.Warn("worker round failed", zap.String("worker", w.Name), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.Every):
		}
	}
}
