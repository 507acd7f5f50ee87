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
	"os"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/porticoproxy/portico/controller/api"
	"github.com/porticoproxy/portico/controller/cluster"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/syncapi"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/broker"
	"github.com/porticoproxy/portico/internal/mapping"
)

// Version is the controller's version, set at build time.
var Version = "dev"

// Config is the controller's configuration file.
type Config struct {
	// API is the REST API's listen address.
	API string `yaml:"api"`
	// GRPC is the sync service's listen address.
	GRPC string `yaml:"grpc"`
	// Store names the database: "sqlite:PATH".
	Store string `yaml:"store"`
	// AdminToken authorises the admin calls.
	AdminToken string `yaml:"admin_token"`
	// Ziti says how to reach the OpenZiti controller's Edge Management API.
	Ziti ZitiConfig `yaml:"ziti"`
	// ID names this controller in the cluster. Default: a random id.
	ID string `yaml:"id"`
	// AdvertiseAPI and AdvertiseGRPC are the addresses other parts reach this
	// controller at, as listed by GET /api/v1/controllers. Default: the
	// listen addresses.
	AdvertiseAPI  string `yaml:"advertise_api"`
	AdvertiseGRPC string `yaml:"advertise_grpc"`
	// Workers tunes the singleton workers.
	Workers WorkersConfig `yaml:"workers"`
	// AMQP, if its URL is set, publishes every mapping change to RabbitMQ,
	// for frontends that follow a cluster of controllers.
	AMQP AMQPConfig `yaml:"amqp"`
	// TLS, if set, serves the API and the sync service over TLS with this
	// certificate, so tokens and frontend secrets never cross a network in
	// the clear.
	TLS TLSConfig `yaml:"tls"`
	// DNSResolver, if set (host:port), is the DNS server asked for custom
	// domains' verification records instead of the system's resolver.
	DNSResolver string `yaml:"dns_resolver"`
	// Limits bound what one account may do.
	Limits LimitsConfig `yaml:"limits"`
}

// LimitsConfig bounds what one account may do.
type LimitsConfig struct {
	// JournalBytesPerHour is how many bytes of mapping changes (counted once
	// per frontend) an account may make per clock hour; beyond it the API
	// answers 429 until the next hour. Default 32 MiB.
	JournalBytesPerHour int64 `yaml:"journal_bytes_per_hour"`
	// NameQuarantine is how long a released reserved name stays out of
	// other accounts' reach (its releaser may take it back at once).
	// Default 24h.
	NameQuarantine time.Duration `yaml:"name_quarantine"`
}

// TLSConfig names a certificate and its key, in PEM files.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// AMQPConfig is the broker section of the configuration.
type AMQPConfig struct {
	URL      string `yaml:"url"`
	Exchange string `yaml:"exchange"`
}

// ZitiConfig is the Ziti section of the configuration.
type ZitiConfig struct {
	ManagementURL string `yaml:"management_url"`
	Username      string `yaml:"username"`
	Password      string `yaml:"password"`
	CAFile        string `yaml:"ca_file"`
}

// LoadConfig reads a YAML configuration file. ${VAR} references are expanded
// from the environment, and a reference to an unset variable is an error, as
// are unknown keys. Any other $ is kept, so a password may hold one.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	expanded, err := expandVars(string(raw))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("parsing config %s: %w", path, err)
	}
	return cfg, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandVars replaces each ${VAR} in s with the variable's value; an unset one is an error.
func expandVars(s string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := varRef.FindStringSubmatch(ref)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("it refers to environment variables that are not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func (c *Config) setDefaults() {
	if c.API == "" {
		c.API = "127.0.0.1:18080"
	}
	if c.GRPC == "" {
		c.GRPC = "127.0.0.1:18081"
	}
	if c.Store == "" {
		c.Store = "sqlite:portico.db"
	}
	if c.ID == "" {
		c.ID = "ctrl-" + token.New(8)
	}
	c.Workers.setDefaults()
}

// Validate checks the configuration without touching the network.
func (c *Config) Validate() error {
	var errs []error
	if len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("admin_token must be at least 16 characters"))
	}
	if c.Ziti.ManagementURL == "" {
		errs = append(errs, errors.New("ziti.management_url is required"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls needs both cert_file and key_file"))
	}
	if c.AMQP.URL != "" {
		if err := (broker.PublisherConfig{URL: c.AMQP.URL, Exchange: c.AMQP.Exchange}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("amqp: %w", err))
		}
	}
	if c.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			errs = append(errs, fmt.Errorf("dns_resolver %q must be host:port: %w", c.DNSResolver, err))
		}
	}
	return errors.Join(errs...)
}

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
func New(ctx context.Context, cfg Config, logger *zap.Logger) (*Controller, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	st.SetJournalBudget(cfg.Limits.JournalBytesPerHour)
	st.SetNameQuarantine(cfg.Limits.NameQuarantine)
	deployment, err := st.DeploymentID(ctx, token.New(12))
	if err != nil {
		st.Close()
		return nil, err
	}
	zc, err := zitiauto.New(zitiauto.Config{ManagementURL: cfg.Ziti.ManagementURL, Username: cfg.Ziti.Username, Password: cfg.Ziti.Password,
		CAFile: cfg.Ziti.CAFile, Deployment: deployment})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("configuring ziti: %w", err)
	}
	if err := zc.EnsureBaseline(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("preparing the ziti network: %w", err)
	}
	c := &Controller{cfg: cfg, logger: logger.With(zap.String("controller", cfg.ID)), store: st, hub: syncapi.NewHub(), stopped: make(chan struct{})}
	logger = c.logger
	c.pub = fanout{c.hub}
	if cfg.AMQP.URL != "" {
		c.amqp = broker.NewPublisher(broker.PublisherConfig{URL: cfg.AMQP.URL, Exchange: cfg.AMQP.Exchange}, logger.Named("amqp"))
		c.pub = append(c.pub, amqpPublisher{c.amqp})
	}
	if c.apiLn, err = net.Listen("tcp", cfg.API); err != nil {
		st.Close()
		return nil, fmt.Errorf("listening for the api: %w", err)
	}
	if c.grpcLn, err = net.Listen("tcp", cfg.GRPC); err != nil {
		c.apiLn.Close()
		st.Close()
		return nil, fmt.Errorf("listening for grpc: %w", err)
	}
	if cfg.AdvertiseAPI == "" {
		cfg.AdvertiseAPI = c.apiLn.Addr().String()
	}
	if cfg.AdvertiseGRPC == "" {
		cfg.AdvertiseGRPC = c.grpcLn.Addr().String()
	}
	w := &workers{cfg: cfg.Workers, store: st, ziti: zc, pub: c.pub, logger: logger.Named("workers"), orphans: map[string]time.Time{}, unhosted: map[string]time.Time{}}
	now := time.Now().UTC()
	c.node = cluster.New(cluster.Config{Self: store.Controller{
		ID: cfg.ID, APIAddress: cfg.AdvertiseAPI, GRPCAddress: cfg.AdvertiseGRPC, Version: Version, StartedAt: now, HeartbeatAt: now,
	}}, st, w.list(), logger.Named("cluster"))
	routers := &routerWarnings{ziti: zc, logger: logger.Named("overlay"), logged: map[string]bool{}}
	routers.Warnings(ctx) // logs them at start
	c.httpSrv = &http.Server{
		Handler: api.New(api.Config{AdminToken: cfg.AdminToken, Version: Version, Resolver: resolver(cfg.DNSResolver), OverlayWarnings: routers.Warnings},
			st, zc, c.pub, logger.Named("api")),
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
			c.apiLn.Close()
			c.grpcLn.Close()
			st.Close()
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
	if c.amqp != nil {
		c.amqp.Close()
	}
	return errors.Join(err, c.store.Close())
}

// fanout publishes committed changes to every publisher: the Watch streams
// of this controller always, RabbitMQ when configured.
type fanout []api.Publisher

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
