// Package syncclient keeps a frontend's mapping table in step with the
// controllers: a snapshot to start, a Watch stream for each change as it
// commits, and a periodic pull of the journal that repairs anything missed.
package syncclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/broker"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/syncpb"
)

// Config says which controllers to follow, as which frontend.
type Config struct {
	// Controllers are the gRPC addresses of the controllers; the client fails
	// over among them.
	Controllers []string
	// Frontend and Secret authenticate the frontend.
	Frontend, Secret string
	// ResyncInterval is how often the journal is pulled to repair anything
	// the stream missed. Zero means 30 s.
	ResyncInterval time.Duration
	// CacheFile, if set, keeps the last table on disk so that a restart
	// serves the known routes before any controller answers.
	CacheFile string
	// Instance names this process in the controllers' registry of frontend
	// instances, and Version is reported with it.
	Instance, Version string
	// HeartbeatInterval is how often the instance reports itself. Zero means 5 s.
	HeartbeatInterval time.Duration
	// Broker, if its URL is set, delivers the changes through RabbitMQ (a
	// cluster of controllers) instead of a Watch stream from one controller.
	Broker broker.ConsumerConfig
	// TLS, if set, verifies the controllers' certificates; nil speaks
	// plaintext, for a controller on loopback or a private network.
	TLS *tls.Config
}

// Client follows a frontend's mappings into a table.
type Client struct {
	cfg    Config
	table  *routes.Table
	logger *zap.Logger
	conn   *grpc.ClientConn
	rpc    syncpb.SyncClient

	pullMu   sync.Mutex // one pull or snapshot at a time
	dirty    chan struct{}
	wakeups  chan struct{}    // broker messages that call for a pull
	consumer *broker.Consumer // nil without a broker

	mu        sync.Mutex
	connected bool
	lastErr   error
	lastSync  time.Time
}

// New returns a client for cfg that fills table. It does no network I/O.
func New(cfg Config, table *routes.Table, logger *zap.Logger) (*Client, error) {
	if len(cfg.Controllers) == 0 {
		return nil, errors.New("no controller addresses")
	}
	if cfg.Frontend == "" || cfg.Secret == "" {
		return nil, errors.New("frontend token and secret are required")
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 30 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.Instance == "" {
		return nil, errors.New("instance id is required")
	}
	if cfg.Broker.URL != "" {
		cfg.Broker.Frontend = cfg.Frontend
		if err := cfg.Broker.Validate(); err != nil {
			return nil, err
		}
	}
	// A manual resolver with every address lets gRPC fail over among the
	// controllers without a load balancer in front of them.
	r := manual.NewBuilderWithScheme("portico")
	addrs := make([]resolver.Address, len(cfg.Controllers))
	for i, a := range cfg.Controllers {
		// Verify each controller's certificate against its own host name.
		host, _, _ := net.SplitHostPort(a)
		addrs[i] = resolver.Address{Addr: a, ServerName: host}
	}
	r.InitialState(resolver.State{Addresses: addrs})
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	conn, err := grpc.NewClient("portico:///controllers",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(syncpb.MaxMessageBytes), grpc.MaxCallSendMsgSize(syncpb.MaxMessageBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("creating grpc client: %w", err)
	}
	c := &Client{cfg: cfg, table: table, logger: logger, conn: conn, rpc: syncpb.NewSyncClient(conn), dirty: make(chan struct{}, 1), wakeups: make(chan struct{}, 1)}
	if cfg.Broker.URL != "" {
		c.consumer = broker.NewConsumer(cfg.Broker, brokerHandler{c}, logger.Named("broker"))
	}
	return c, nil
}

// Close releases the connection. Run must have returned.
func (c *Client) Close() error { return c.conn.Close() }

// Status is the client's health, for the admin API.
type Status struct {
	Connected bool      `json:"connected"`
	LastError string    `json:"last_error,omitempty"`
	LastSync  time.Time `json:"last_sync"`
	Revision  int64     `json:"revision"`
	Mappings  int       `json:"mappings"`
	Loaded    bool      `json:"loaded"`
	// Broker is the RabbitMQ consumer's state, when one is configured.
	Broker *broker.ConsumerStatus `json:"broker,omitempty"`
}

// Status reports the client's health.
func (c *Client) Status() Status {
	c.mu.Lock()
	s := Status{Connected: c.connected, LastSync: c.lastSync}
	if c.lastErr != nil {
		s.LastError = c.lastErr.Error()
	}
	c.mu.Unlock()
	if c.consumer != nil {
		bs := c.consumer.Status()
		s.Broker = &bs
	}
	s.Revision, s.Mappings, s.Loaded = c.table.Revision(), c.table.Len(), c.table.Loaded()
	return s
}

func (c *Client) setState(connected bool, err error) {
	c.mu.Lock()
	c.connected, c.lastErr = connected, err
	if err == nil {
		c.lastSync = time.Now()
	}
	c.mu.Unlock()
}

func (c *Client) auth(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, syncpb.SecretKey, c.cfg.Secret)
}

// Run keeps the table in step until ctx ends.
func (c *Client) Run(ctx context.Context) {
	if c.cfg.CacheFile != "" && !c.table.Loaded() {
		if ok, err := c.table.Load(c.cfg.CacheFile); err != nil {
			c.logger.Warn("ignoring the mapping cache", zap.Error(err))
		} else if ok {
			c.logger.Info("serving cached mappings until a controller answers",
				zap.Int("mappings", c.table.Len()), zap.Int64("revision", c.table.Revision()))
		}
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.resyncLoop(ctx) }()
	go func() { defer wg.Done(); c.saveLoop(ctx) }()
	go func() { defer wg.Done(); c.heartbeatLoop(ctx) }()
	defer wg.Wait()

	if c.consumer != nil {
		wg.Add(2)
		go func() { defer wg.Done(); c.pullLoop(ctx) }()
		go func() { defer wg.Done(); c.consumer.Run(ctx) }()
		c.bootstrap(ctx)
		return
	}
	var bo backoff.Backoff
	for ctx.Err() == nil {
		err := c.follow(ctx, &bo)
		if ctx.Err() != nil {
			return
		}
		c.setState(false, err)
		wait := bo.Next()
		c.logger.Warn("mapping stream interrupted; retrying", zap.Error(err), zap.Duration("in", wait))
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

// bootstrap brings the table up to date once, retrying until a controller
// answers; with a broker, that and the periodic resync are all the client
// asks of the controllers.
func (c *Client) bootstrap(ctx context.Context) {
	var bo backoff.Backoff
	for {
		err := c.Pull(ctx)
		if err == nil || ctx.Err() != nil {
			c.setState(err == nil, err)
			return
		}
		c.setState(false, err)
		wait := bo.Next()
		c.logger.Warn("no controller answers yet; retrying", zap.Error(err), zap.Duration("in", wait))
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

// brokerHandler takes the broker's deliveries as wake-ups only. Anyone who
// may publish to the exchange can send a well-formed change with the next
// revision, and its routing key, the frontend token, is no secret; so no
// content from the broker is applied. A message newer than the table makes
// the client pull the journal over the authenticated sync service, where
// the genuine change is.
type brokerHandler struct{ c *Client }

func (h brokerHandler) Apply(ch mapping.Change) {
	if ch.Revision > h.c.table.Revision() {
		h.c.wake()
	}
}

// Malformed pulls the journal: the dropped message may have stood for a change.
func (h brokerHandler) Malformed(err error) {
	h.c.logger.Warn("dropped a malformed broker message; resyncing", zap.Error(err))
	h.c.wake()
}

// Reconnected pulls the journal: what was published while the queue did
// not exist is gone.
func (h brokerHandler) Reconnected() { h.c.wake() }

// wake asks pullLoop for a pull; wake-ups that come while one is pending
// make one pull.
func (c *Client) wake() {
	select {
	case c.wakeups <- struct{}{}:
	default:
	}
}

// minPullGap bounds how often broker wake-ups make a client pull, so a flood
// of messages (forged ones included) costs each controller at most a few
// calls a second per frontend instance; a change waits that long at most.
const minPullGap = 50 * time.Millisecond

// pullLoop pulls the journal once for each batch of wake-ups.
func (c *Client) pullLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wakeups:
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.Pull(pctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("pulling the journal after a broker message failed; the periodic resync will retry", zap.Error(err))
		}
		cancel()
		if !backoff.Sleep(ctx, minPullGap) {
			return
		}
	}
}

// follow takes a snapshot if the table has none, then applies the Watch
// stream until it breaks. A stream that opens resets the backoff.
func (c *Client) follow(ctx context.Context, bo *backoff.Backoff) error {
	if !c.table.Loaded() {
		if err := c.snapshot(ctx); err != nil {
			return err
		}
	}
	stream, err := c.rpc.Watch(c.auth(ctx), &syncpb.WatchRequest{Frontend: c.cfg.Frontend, After: c.table.Revision()})
	if err != nil {
		return fmt.Errorf("opening watch: %w", err)
	}
	c.setState(true, nil)
	bo.Reset()
	for {
		pc, err := stream.Recv()
		if status.Code(err) == codes.FailedPrecondition {
			return c.snapshot(ctx) // the journal no longer reaches our revision
		}
		if err != nil {
			return fmt.Errorf("watching: %w", err)
		}
		ch, err := syncpb.ToChange(pc)
		if err != nil {
			c.logger.Warn("dropping a malformed change and resyncing", zap.Error(err))
			if err := c.Pull(ctx); err != nil {
				return err
			}
			continue
		}
		if err := c.apply(ctx, ch); err != nil {
			return err
		}
	}
}

// apply applies one change, pulling the journal first when there is a gap.
func (c *Client) apply(ctx context.Context, ch mapping.Change) error {
	switch c.table.Apply(ch) {
	case routes.Applied:
		c.markDirty()
	case routes.Gap:
		if err := c.Pull(ctx); err != nil {
			return err
		}
		if c.table.Apply(ch) == routes.Applied {
			c.markDirty()
		}
	case routes.NotLoaded:
		return c.snapshot(ctx)
	}
	c.setState(true, nil)
	return nil
}

// Pull brings the table up to the controller's revision from the journal,
// falling back to a snapshot when the journal is too short or a page of it
// cannot be had: a frontend must never be stuck on one journal entry.
func (c *Client) Pull(ctx context.Context) error {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	if !c.table.Loaded() {
		return c.snapshotLocked(ctx)
	}
	for {
		after := c.table.Revision()
		resp, err := c.rpc.Changes(c.auth(ctx), &syncpb.ChangesRequest{Frontend: c.cfg.Frontend, After: after})
		if err != nil && !unreachable(err) {
			c.logger.Warn("pulling the journal failed; taking a snapshot instead", zap.Int64("after", after), zap.Error(err))
			return c.snapshotLocked(ctx)
		}
		if err != nil {
			return fmt.Errorf("pulling changes after %d: %w", after, err)
		}
		if resp.TooOld {
			return c.snapshotLocked(ctx)
		}
		for _, pc := range resp.Changes {
			ch, err := syncpb.ToChange(pc)
			if err != nil {
				c.logger.Warn("malformed journal entry; taking a snapshot", zap.Error(err))
				return c.snapshotLocked(ctx)
			}
			if c.table.Apply(ch) == routes.Gap {
				return c.snapshotLocked(ctx)
			}
		}
		if len(resp.Changes) > 0 {
			c.markDirty()
		}
		if len(resp.Changes) == 0 || c.table.Revision() >= resp.Revision {
			return nil
		}
	}
}

// unreachable reports whether err means no controller could answer, in
// which case a snapshot cannot be had either.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return true
	}
	return false
}

func (c *Client) snapshot(ctx context.Context) error {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	return c.snapshotLocked(ctx)
}

func (c *Client) snapshotLocked(ctx context.Context) error {
	stream, err := c.rpc.Snapshot(c.auth(ctx), &syncpb.SnapshotRequest{Frontend: c.cfg.Frontend})
	if err != nil {
		return fmt.Errorf("requesting snapshot: %w", err)
	}
	var (
		rev int64
		ms  []mapping.Mapping
	)
	for {
		chunk, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receiving snapshot: %w", err)
		}
		rev = chunk.Revision
		ms = append(ms, syncpb.ToMappings(chunk.Mappings)...)
		if chunk.Last {
			break
		}
	}
	c.table.Replace(rev, ms)
	c.markDirty()
	c.logger.Info("loaded mapping snapshot", zap.Int64("revision", rev), zap.Int("mappings", len(ms)))
	return nil
}

// resyncLoop pulls the journal periodically, so a change the stream lost,
// a delete included, is repaired within one interval.
func (c *Client) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Pull(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("periodic resync failed", zap.Error(err))
			}
		}
	}
}

// heartbeatLoop reports this instance to the controllers, which list it with
// its lag behind the store.
func (c *Client) heartbeatLoop(ctx context.Context) {
	logged := map[string]bool{}
	for {
		req := &syncpb.HeartbeatRequest{Frontend: c.cfg.Frontend, Instance: c.cfg.Instance, Version: c.cfg.Version,
			AppliedRevision: c.table.Revision(), Mappings: int64(c.table.Len())}
		resp, err := c.rpc.Heartbeat(c.auth(ctx), req)
		if err != nil && ctx.Err() == nil {
			c.logger.Debug("heartbeat failed", zap.Error(err))
		}
		for _, w := range resp.GetWarnings() {
			// Each once; a handful at most, however many the controller sends.
			if !logged[w] && len(logged) < maxWarnings {
				logged[w] = true
				c.logger.Warn("the controller warns about the overlay", zap.String("warning", truncate(w, 1024)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.cfg.HeartbeatInterval):
		}
	}
}

// maxWarnings bounds the distinct overlay warnings an instance logs.
const maxWarnings = 16

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (c *Client) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// saveLoop writes the table to the cache file at most once a second, and
// once more on the way out if anything changed since.
func (c *Client) saveLoop(ctx context.Context) {
	if c.cfg.CacheFile == "" {
		return
	}
	save := func() {
		if err := c.table.Save(c.cfg.CacheFile); err != nil {
			c.logger.Warn("saving the mapping cache", zap.Error(err))
		}
	}
	flush := func() {
		select {
		case <-c.dirty:
			save()
		default:
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-c.dirty:
			save()
		}
		select {
		case <-ctx.Done():
			flush()
			return
		case <-time.After(time.Second):
		}
	}
}
