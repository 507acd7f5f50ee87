// Package controller runs the Portico controller: the store, the REST API,
// the gRPC sync service and the automation of the OpenZiti network.
package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/porticoproxy/portico/controller/api"
	"github.com/porticoproxy/portico/controller/cluster"
	"github.com/porticoproxy/portico/controller/service"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/syncapi"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/broker"
	"github.com/porticoproxy/portico/internal/mapping"
)

// Version is the controller's version, set at build time.
var Version = "dev"

// Controller is a running controller.
type Controller struct {
	cfg     Config
	logger  *zap.Logger
	store   *store.Store
	hub     *syncapi.Hub
	pub     fanout
	amqp    *broker.Publisher // nil without a broker
	node    *cluster.Node
	httpSrv *http.Server
	grpcSrv *grpc.Server
	apiLn   net.Listener
	grpcLn  net.Listener
	stop    context.CancelFunc
	stopped chan struct{}
}

// New opens the store and the listeners. Serve starts answering.
func New(ctx context.Context, cfg Config, logger *zap.Logger) (c *Controller, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	// What New has opened so far, closed again if a later step fails.
	var opened []func() error
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i]()
			}
		}
	}()
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	opened = append(opened, st.Close)
	st.SetJournalBudget(cfg.Limits.JournalBytesPerHour)
	st.SetNameQuarantine(cfg.Limits.NameQuarantine)
	deployment, err := st.DeploymentID(ctx, token.New(12))
	if err != nil {
		return nil, err
	}
	zc, err := zitiauto.New(zitiauto.Config{ManagementURLs: cfg.Ziti.urls(), Username: cfg.Ziti.Username, Password: cfg.Ziti.Password,
		CAFile: cfg.Ziti.CAFile, Deployment: deployment})
	if err != nil {
		return nil, fmt.Errorf("configuring ziti: %w", err)
	}
	if err := zc.EnsureBaseline(ctx); err != nil {
		return nil, fmt.Errorf("preparing the ziti network: %w", err)
	}
	c = &Controller{cfg: cfg, logger: logger.With(zap.String("controller", cfg.ID)), store: st, hub: syncapi.NewHub(), stopped: make(chan struct{})}
	logger = c.logger
	c.pub = fanout{c.hub}
	if cfg.AMQP.URL != "" {
		c.amqp = broker.NewPublisher(broker.PublisherConfig{URL: cfg.AMQP.URL, Exchange: cfg.AMQP.Exchange}, logger.Named("amqp"))
		opened = append(opened, func() error { c.amqp.Close(); return nil })
		c.pub = append(c.pub, amqpPublisher{c.amqp})
	}
	if c.apiLn, err = net.Listen("tcp", cfg.API); err != nil {
		return nil, fmt.Errorf("listening for the api: %w", err)
	}
	opened = append(opened, func() error { return c.apiLn.Close() })
	if c.grpcLn, err = net.Listen("tcp", cfg.GRPC); err != nil {
		return nil, fmt.Errorf("listening for grpc: %w", err)
	}
	opened = append(opened, c.grpcLn.Close)
	if cfg.AdvertiseAPI == "" {
		cfg.AdvertiseAPI = c.apiLn.Addr().String()
	}
	if cfg.AdvertiseGRPC == "" {
		cfg.AdvertiseGRPC = c.grpcLn.Addr().String()
	}
	svc := service.New(st, zc, c.pub, resolver(cfg.DNSResolver), logger.Named("service"))
	w := &workers{cfg: cfg.Workers, store: st, ziti: zc, svc: svc, logger: logger.Named("workers"), orphans: map[string]time.Time{}, unhosted: map[string]time.Time{}}
	now := time.Now().UTC()
	c.node = cluster.New(cluster.Config{Self: store.Controller{
		ID: cfg.ID, APIAddress: cfg.AdvertiseAPI, GRPCAddress: cfg.AdvertiseGRPC, Version: Version, StartedAt: now, HeartbeatAt: now,
	}}, st, w.list(), logger.Named("cluster"))
	routers := &routerWarnings{ziti: zc, logger: logger.Named("overlay"), logged: map[string]bool{}}
	routers.Warnings(ctx) // logs them at start
	c.httpSrv = &http.Server{
		Handler:           api.New(api.Config{AdminToken: cfg.AdminToken, Version: Version, OverlayWarnings: routers.Warnings}, st, svc, logger.Named("api")),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	opts := append(syncapi.ServerOptions(),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading tls certificate: %w", err)
		}
		tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		c.apiLn = tls.NewListener(c.apiLn, tlsCfg)
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	c.grpcSrv = grpc.NewServer(opts...)
	syncSrv := syncapi.NewServer(st, c.hub, cfg.ID, logger.Named("sync"))
	syncSrv.Warnings = routers.Warnings
	syncSrv.Register(c.grpcSrv)
	return c, nil
}

// APIAddr is where the REST API listens.
func (c *Controller) APIAddr() string { return c.apiLn.Addr().String() }

// GRPCAddr is where the sync service listens.
func (c *Controller) GRPCAddr() string { return c.grpcLn.Addr().String() }

// Serve answers until Close; it returns the first serving error.
func (c *Controller) Serve() error {
	c.logger.Info("controller serving", zap.String("api", c.APIAddr()), zap.String("grpc", c.GRPCAddr()), zap.String("version", Version))
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go func() { defer close(c.stopped); c.node.Run(ctx) }()
	errc := make(chan error, 2)
	go func() { errc <- c.grpcSrv.Serve(c.grpcLn) }()
	go func() { errc <- c.httpSrv.Serve(c.apiLn) }()
	err := <-errc
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Close stops serving: open Watch streams end at once, API requests get a
// few seconds to finish, the workers stop and give up their leases, then the
// store closes.
func (c *Controller) Close() error {
	if c.stop != nil {
		c.stop()
		<-c.stopped
	}
	c.grpcSrv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.httpSrv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Requests still running, or a connection that never sent one (net/http
		// waits 5 s for those too), must not keep the controller up.
		c.logger.Warn("closing API connections still open after 5 s")
		err = c.httpSrv.Close()
	}
	if c.amqp != nil {
		c.amqp.Close()
	}
	return errors.Join(err, c.store.Close())
}

// fanout publishes committed changes to every publisher: the Watch streams
// of this controller always, RabbitMQ when configured.
type fanout []service.Publisher

func (f fanout) Publish(changes []store.FrontendChange) {
	for _, p := range f {
		p.Publish(changes)
	}
}

// amqpPublisher hands changes to the broker, one frontend at a time.
type amqpPublisher struct{ p *broker.Publisher }

func (a amqpPublisher) Publish(changes []store.FrontendChange) {
	for len(changes) > 0 {
		fe := changes[0].Frontend
		var batch []mapping.Change
		for len(changes) > 0 && changes[0].Frontend == fe {
			batch = append(batch, changes[0].Change)
			changes = changes[1:]
		}
		a.p.Publish(fe, batch)
	}
}

// resolver asks the DNS server at addr, or the system's resolver if addr is empty.
func resolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
