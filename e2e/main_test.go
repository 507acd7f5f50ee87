// Package e2e runs Portico end to end on the real parts: an OpenZiti network,
// the controller, Caddy with the Portico modules (in process) and the
// portico CLI as the agent.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	_ "github.com/porticoproxy/portico/caddymodule"
	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/deploy"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/testenv"
)

const namespace = "e2e.localhost"

// stack is what TestMain starts once for every test here.
var stack struct {
	dir        string
	ziti       *testenv.Ziti
	ctrl       *controller.Controller
	ctrlDone   chan error
	ctrlAddrs  [2]string // API and gRPC
	admin      *apiclient.Client
	apiURL     string
	portico    string // the CLI binary; portico-controller and caddy are beside it
	httpAddr   string // Caddy's HTTP listener
	adminToken string
	frontend   string       // the in-process Caddy's frontend token
	identity   string       // and its identity file
	dns        *testenv.DNS // custom domains' DNS, which the controller asks
}

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithZiti(m, "e2e", func(ctx context.Context, z *testenv.Ziti, dir string) (func(), error) {
		stack.dir, stack.ziti = dir, z
		return teardown, setup(ctx)
	}))
}

// setup starts the controller and Caddy, and builds the CLI.
func setup(ctx context.Context) error {
	built := make(chan error, 1)
	bin := filepath.Join(stack.dir, "bin")
	stack.portico = filepath.Join(bin, "portico")
	go func() {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "../cmd/portico", "../cmd/portico-controller", "../cmd/caddy").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("building the binaries: %v\n%s", err, out)
		}
		built <- err
	}()

	stack.adminToken = "e2e-admin-token-0123456789"
	var err error
	if stack.dns, err = testenv.StartDNS(); err != nil {
		return err
	}
	if err := startController(ctx); err != nil {
		return err
	}
	stack.admin = apiclient.New(stack.apiURL, stack.adminToken)

	if _, err := stack.admin.CreateNamespace(ctx, namespace, true); err != nil {
		return err
	}
	stack.httpAddr = testenv.FreeAddr()
	_, port, _ := net.SplitHostPort(stack.httpAddr)
	fe, identityFile, err := testenv.EnrollFrontend(ctx, stack.admin, stack.dir, "e2e", "http://{host}:"+port, namespace)
	if err != nil {
		return err
	}
	// The in-process Caddy reads its secret as every frontend does.
	os.Setenv("PORTICO_FRONTEND_SECRET", fe.Secret)
	stack.frontend, stack.identity = fe.Token, identityFile
	if err := loadCaddy(); err != nil {
		return err
	}
	return <-built
}

func startController(ctx context.Context) error {
	cfg := controller.Config{
		API:        "127.0.0.1:0",
		GRPC:       "127.0.0.1:0",
		Store:      "sqlite:" + filepath.Join(stack.dir, "portico.db"),
		AdminToken: stack.adminToken,
		Ziti:       controller.ZitiConfig{ManagementURL: stack.ziti.ManagementURL, Username: stack.ziti.Username, Password: stack.ziti.Password},
		// Short rounds, so the workers' tests see them act within seconds.
		Workers:     controller.WorkersConfig{ReapAfter: 8 * time.Second, ReapEvery: time.Second, ReconcileEvery: 2 * time.Second},
		DNSResolver: stack.dns.Addr,
	}
	if stack.ctrlAddrs[0] != "" { // a restart keeps its addresses
		cfg.API, cfg.GRPC = stack.ctrlAddrs[0], stack.ctrlAddrs[1]
	}
	c, err := controller.New(ctx, cfg, zap.NewExample(zap.IncreaseLevel(zap.InfoLevel)))
	if err != nil {
		return err
	}
	stack.ctrl = c
	stack.ctrlAddrs = [2]string{c.APIAddr(), c.GRPCAddr()}
	stack.apiURL = "http://" + c.APIAddr()
	stack.ctrlDone = make(chan error, 1)
	go func() { stack.ctrlDone <- c.Serve() }()
	return nil
}

// ownController starts a controller of its own, on the test network unless
// cfg names another, for a test that needs one configured otherwise than the
// stack's (its store, TLS, network); it stops with the test.
func ownController(t *testing.T, cfg controller.Config) *controller.Controller {
	t.Helper()
	cfg.API, cfg.GRPC, cfg.AdminToken = "127.0.0.1:0", "127.0.0.1:0", stack.adminToken
	if cfg.Ziti.ManagementURL == "" {
		cfg.Ziti = controller.ZitiConfig{ManagementURL: stack.ziti.ManagementURL, Username: stack.ziti.Username, Password: stack.ziti.Password}
	}
	c, err := controller.New(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	t.Cleanup(func() { c.Close(); <-done })
	return c
}

func stopController() error {
	if stack.ctrl == nil {
		return nil
	}
	err := stack.ctrl.Close()
	<-stack.ctrlDone
	stack.ctrl = nil
	return err
}

// loadCaddy loads (or reloads) the frontend's config; extra go into the
// site block before the portico directive.
func loadCaddy(extra ...string) error { return loadCaddyConfig(caddyConfig{extra: extra}) }

// caddyConfig is what tests change in the frontend's Caddyfile.
type caddyConfig struct {
	app       []string // more of the global portico block, such as oauth
	extra     []string // site directives before portico
	directive string   // the portico directive whole; default "portico"
}

func loadCaddyConfig(c caddyConfig) error {
	_, port, _ := net.SplitHostPort(stack.httpAddr)
	f := deploy.Frontend{
		Storage:     "file_system " + filepath.Join(stack.dir, "caddy-data"),
		Controllers: []string{stack.ctrl.GRPCAddr()},
		Frontend:    stack.frontend,
		Identity:    stack.identity,
		CacheDir:    filepath.Join(stack.dir, "portico-cache"),
		Options:     append([]string{"resync_interval 2s"}, c.app...),
		Site:        "http://:" + port,
		Bind:        "127.0.0.1",
		Directives:  c.extra,
		Handler:     c.directive,
	}
	caddyfile, err := f.Caddyfile()
	if err != nil {
		return err
	}
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfile, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return fmt.Errorf("adapting Caddyfile: %w", err)
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "caddyfile warning:", w.String())
	}
	if err := caddy.Load(cfg, true); err != nil {
		return err
	}
	return testenv.WaitOneListener(stack.httpAddr, 5*time.Second)
}

func teardown() {
	caddy.Stop()
	stopController()
	if stack.dns != nil {
		stack.dns.Close()
	}
}

// wantWithin retries check until it returns nil or d passes.
func wantWithin(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
