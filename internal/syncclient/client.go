// Package syncclient keeps a frontend's mapping table in step with the
// controllers: a snapshot to start, a Watch stream for each change as it
// commits, and a periodic pull of the journal that repairs anything missed.
package syncclient

// client.go holds the client's config, its connection to the controllers,
// its status and Run, which starts everything that keeps the table in step.

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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/porticoproxy/portico/internal/broker"
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
	c.loadCache()
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
	c.watchLoop(ctx)
}
