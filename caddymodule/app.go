package caddymodule

// app.go holds the portico app: the frontend's live runtime (Ziti context,
// sync client, mapping table), kept across config reloads.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/openziti/sdk-golang/ziti"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/broker"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/syncclient"
	"github.com/porticoproxy/portico/internal/zitiident"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the portico app. It owns the frontend's mapping table, its Ziti
// context and its subscription to the controllers. The runtime lives in a
// usage pool keyed by the app's config, so a config reload neither drops the
// subscription nor empties the table.
type App struct {
	// Controllers are the gRPC addresses of the Portico controllers.
	Controllers []string `json:"controllers,omitempty"`
	// Frontend is this frontend's token.
	Frontend string `json:"frontend,omitempty"`
	// Secret is this frontend's secret.
	Secret string `json:"secret,omitempty"`
	// Identity is the path of the frontend's enrolled Ziti identity file.
	Identity string `json:"identity,omitempty"`
	// ResyncInterval is how often the journal is pulled to repair missed
	// changes. Default: 30s.
	ResyncInterval caddy.Duration `json:"resync_interval,omitempty"`
	// CacheDir holds the last known mapping table. Default: the "portico"
	// folder in Caddy's data directory.
	CacheDir string `json:"cache_dir,omitempty"`
	// AMQPURL, if set, takes the changes from RabbitMQ, as a cluster of
	// controllers publishes them, instead of a Watch stream.
	AMQPURL string `json:"amqp_url,omitempty"`
	// AMQPExchange is the exchange the controllers publish to. Default:
	// portico.mappings.
	AMQPExchange string `json:"amqp_exchange,omitempty"`
	// TLSCA, if set, reaches the controllers over TLS, verifying them with
	// the CA certificates in this PEM file ("system" for the system's roots).
	TLSCA string `json:"tls_ca,omitempty"`
	// OAuth configures the logins that shares' policies can require.
	OAuth *OAuthConfig `json:"oauth,omitempty"`

	oauth  *oauthRuntime
	rt     *frontendRuntime
	key    string
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "portico",
		New: func() caddy.Module { return new(App) },
	}
}

// expand resolves the placeholders in each named field. A placeholder that
// is unknown or empty is an error, as in Caddy's own modules: a typo such as
// {env.PORTICO_AMQPP} must not quietly turn the broker off.
func expand(module string, fields map[string]*string) error {
	repl := caddy.NewReplacer()
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v, err := repl.ReplaceOrErr(*fields[name], true, true)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", module, name, err)
		}
		*fields[name] = v
	}
	return nil
}

// runtimes holds one runtime per distinct app config.
var runtimes = caddy.NewUsagePool()

// Provision resolves placeholders and takes a reference to the runtime. It
// does no network I/O, so `caddy validate` stays offline.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	fields := map[string]*string{"frontend": &a.Frontend, "secret": &a.Secret, "identity": &a.Identity, "cache_dir": &a.CacheDir,
		"amqp": &a.AMQPURL, "amqp_exchange": &a.AMQPExchange, "tls_ca": &a.TLSCA}
	for i := range a.Controllers {
		fields[fmt.Sprintf("controllers[%d]", i)] = &a.Controllers[i]
	}
	if err := expand("portico app", fields); err != nil {
		return err
	}
	if a.CacheDir == "" {
		a.CacheDir = filepath.Join(caddy.AppDataDir(), "portico")
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if a.OAuth != nil {
		o, err := a.OAuth.provision()
		if err != nil {
			return fmt.Errorf("portico app: %w", err)
		}
		a.oauth = o
	}
	// The runtime does not depend on the logins: changing them keeps it.
	keyed := *a
	keyed.OAuth = nil
	key, err := json.Marshal(&keyed)
	if err != nil {
		return fmt.Errorf("keying portico runtime: %w", err)
	}
	a.key = string(key)
	val, _, err := runtimes.LoadOrNew(a.key, func() (caddy.Destructor, error) {
		return newFrontendRuntime(a, a.logger)
	})
	if err != nil {
		return err
	}
	a.rt = val.(*frontendRuntime)
	return nil
}

// Validate checks the config.
func (a *App) Validate() error {
	var errs []error
	if len(a.Controllers) == 0 {
		errs = append(errs, errors.New("at least one controller address is required"))
	}
	for _, c := range a.Controllers {
		if _, _, err := net.SplitHostPort(c); err != nil {
			errs = append(errs, fmt.Errorf("controller address %q: want host:port", c))
		}
	}
	if a.Frontend == "" || a.Secret == "" {
		errs = append(errs, errors.New("frontend token and secret are required"))
	}
	if a.Identity == "" {
		errs = append(errs, errors.New("the frontend's ziti identity file is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("portico app: %w", err)
	}
	return nil
}

// Start connects: it loads the Ziti identity and starts following the
// controllers. A runtime already started by a previous config stays as it is.
func (a *App) Start() error { return a.rt.start() }

// Stop does nothing: the runtime outlives a reload and stops in Cleanup when
// no config uses it any more.
func (a *App) Stop() error { return nil }

// Cleanup drops this config's reference to the runtime.
func (a *App) Cleanup() error {
	if a.key == "" {
		return nil
	}
	_, err := runtimes.Delete(a.key)
	return err
}

// frontendRuntime is the live state shared by every config that names the same
// frontend the same way.
type frontendRuntime struct {
	frontend string
	identity string
	table    *routes.Table
	logger   *zap.Logger
	client   *syncclient.Client
	// failedLogins counts basic-auth failures per client and share; it
	// outlives config reloads, as the table does.
	failedLogins *policy.FailedLogins

	startOnce sync.Once
	startErr  error
	overlay   overlay
	cancel    context.CancelFunc
	done      chan struct{}
}

// A client may fail to log in to a share loginFailureBurst times, then once
// per loginFailureEvery; more failures get 429 without a password check.
const (
	loginFailureBurst = 10
	loginFailureEvery = 10 * time.Second
)

func newFrontendRuntime(a *App, logger *zap.Logger) (*frontendRuntime, error) {
	tlsCfg, err := controllerTLS(a.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("portico app: %w", err)
	}
	table := routes.NewTable()
	client, err := syncclient.New(syncclient.Config{
		Controllers:    a.Controllers,
		Frontend:       a.Frontend,
		Secret:         a.Secret,
		ResyncInterval: time.Duration(a.ResyncInterval),
		CacheFile:      filepath.Join(a.CacheDir, a.Frontend+".json"),
		Instance:       instanceID(),
		Broker:         broker.ConsumerConfig{URL: a.AMQPURL, Exchange: a.AMQPExchange},
		TLS:            tlsCfg,
		Version:        "caddy " + caddyVersion(),
	}, table, logger.Named("sync"))
	if err != nil {
		return nil, fmt.Errorf("portico app: %w", err)
	}
	return &frontendRuntime{frontend: a.Frontend, identity: a.Identity, table: table, logger: logger, client: client, done: make(chan struct{}),
		failedLogins: policy.NewFailedLogins(loginFailureBurst, loginFailureEvery, 1<<16)}, nil
}

func (rt *frontendRuntime) start() error {
	rt.startOnce.Do(func() {
		ov, err := connectOverlay(rt.identity, rt.logger.Named("overlay"))
		if err != nil {
			rt.startErr = fmt.Errorf("loading frontend identity: %w", err)
			close(rt.done)
			return
		}
		rt.overlay = ov
		ctx, cancel := context.WithCancel(context.Background())
		rt.cancel = cancel
		go func() {
			defer close(rt.done)
			rt.client.Run(ctx)
		}()
	})
	return rt.startErr
}

// Destruct stops the runtime when the last config using it is gone.
func (rt *frontendRuntime) Destruct() error {
	if rt.cancel != nil {
		rt.cancel()
		<-rt.done
	}
	if rt.overlay != nil {
		rt.overlay.Close()
	}
	return rt.client.Close()
}

// controllerTLS is how to reach the controllers: nil for plaintext, or TLS
// verified by the CAs in the PEM file ca ("system" for the system's roots).
// Reading a local file keeps Provision offline.
func controllerTLS(ca string) (*tls.Config, error) {
	switch ca {
	case "":
		return nil, nil
	case "system":
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("reading tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_ca %s holds no PEM certificate", ca)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func caddyVersion() string {
	v, _ := caddy.Version()
	return v
}

// instanceID names this frontend process: the host name and a random
// suffix, so instances on one host are told apart and a restart is a new one.
func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// dial connects to a share's service over the overlay: to any of its
// terminators, or to the one an agent binds when agent is set.
func (rt *frontendRuntime) dial(ctx context.Context, service, agent string) (net.Conn, error) {
	if rt.overlay == nil {
		return nil, errors.New("portico app is not started")
	}
	return rt.overlay.Dial(ctx, service, agent)
}

// overlay is how the frontend reaches shares.
type overlay interface {
	Dial(ctx context.Context, service, agent string) (net.Conn, error)
	Close()
}

// connectOverlay loads the frontend's Ziti identity. A test replaces it to
// run Caddy without an OpenZiti network.
var connectOverlay = func(identityFile string, logger *zap.Logger) (overlay, error) {
	zc, err := zitiident.NewContext(identityFile)
	if err != nil {
		return nil, err
	}
	return zitiOverlay{zc, logger}, nil
}

type zitiOverlay struct {
	zc     ziti.Context
	logger *zap.Logger
}

func (z zitiOverlay) Dial(ctx context.Context, service, agent string) (net.Conn, error) {
	var opts *ziti.DialOptions
	if agent != "" {
		opts = &ziti.DialOptions{Identity: agent}
	}
	conn, err := zitiident.DialWithOptions(ctx, z.zc, service, opts, z.logger)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func (z zitiOverlay) Close() { z.zc.Close() }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*frontendRuntime)(nil)
)
