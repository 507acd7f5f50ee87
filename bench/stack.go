package bench

// stack.go starts the real parts the benchmarks run on: an OpenZiti network,
// the controller, Caddy frontends with the Portico modules, the agent, the
// plain Caddy proxy and the overlay ceiling.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/deploy"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/testenv"
)

// adminToken is the benchmark controllers' admin token.
const adminToken = "bench-admin-token-0123456789"

// buildBinaries builds the frontend (cmd/caddy), the CLI that runs the
// agent, and the overlay ceiling into dir.
func buildBinaries(ctx context.Context, dir string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/caddy", "./cmd/portico", "./bench/cmd/ziti-proxy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the binaries: %v\n%s", err, out)
	}
	return nil
}

// moduleRoot is the directory of Portico's go.mod, found from the working
// directory as the go command finds it.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmarks inside the portico module")
	}
	return filepath.Dir(gomod), nil
}

// deployment is one controller with its frontends: the embedded default
// (SQLite, Watch streams) or a cluster-mode one (PostgreSQL, RabbitMQ).
type deployment struct {
	name      string
	namespace string
	dir       string
	ctrl      *controller.Controller
	ctrlDone  chan error
	apiURL    string
	admin     *apiclient.Client
	user      *apiclient.Client // the benchmark account's
	account   apitypes.Account
	envID     string
	fronts    []*frontend
	cleanups  []func() error
}

// frontend is one Caddy process with the Portico modules.
type frontend struct {
	*testenv.Proc
	token     string
	httpAddr  string
	adminAddr string
}

// deploymentConfig says how to start a deployment.
type deploymentConfig struct {
	name      string
	frontends int
	cluster   bool // PostgreSQL and RabbitMQ instead of SQLite and Watch
}

func startDeployment(ctx context.Context, h *harness, dc deploymentConfig) (d *deployment, err error) {
	d = &deployment{name: dc.name, namespace: dc.name + ".bench.localhost", dir: filepath.Join(h.dir, dc.name)}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return d, err
	}
	storeDSN := "sqlite:" + filepath.Join(d.dir, "portico.db")
	var amqpURL string
	if dc.cluster {
		dsn, drop, err := testenv.CreatePostgresDB(ctx)
		if err != nil {
			return d, fmt.Errorf("PostgreSQL: %w", err)
		}
		d.cleanups = append(d.cleanups, drop)
		storeDSN = dsn
		u, drop, err := testenv.CreateRabbitMQVhost("bench-" + dc.name)
		if err != nil {
			return d, fmt.Errorf("RabbitMQ: %w", err)
		}
		d.cleanups = append(d.cleanups, drop)
		amqpURL = u
	}
	logger, err := fileLogger(filepath.Join(d.dir, "controller.log"))
	if err != nil {
		return d, err
	}
	ctrl, err := controller.New(ctx, controller.Config{
		API:        "127.0.0.1:0",
		GRPC:       "127.0.0.1:0",
		Store:      storeDSN,
		AdminToken: adminToken,
		Ziti:       controller.ZitiConfig{ManagementURL: h.ziti.ManagementURL, Username: h.ziti.Username, Password: h.ziti.Password},
		AMQP:       controller.AMQPConfig{URL: amqpURL},
		// The shares made through the API have no agent; the reaper must
		// leave them, and the reconciler's rounds would only add noise.
		Workers: controller.WorkersConfig{ReapAfter: time.Hour, ReconcileEvery: time.Hour},
	}, logger)
	if err != nil {
		return d, fmt.Errorf("starting the controller: %w", err)
	}
	d.ctrl, d.ctrlDone = ctrl, make(chan error, 1)
	go func() { d.ctrlDone <- ctrl.Serve() }()
	d.apiURL = "http://" + ctrl.APIAddr()
	d.admin = apiclient.New(d.apiURL, adminToken)

	if _, err := d.admin.CreateNamespace(ctx, d.namespace, true); err != nil {
		return d, err
	}
	for i := range dc.frontends {
		f, err := d.startFrontend(ctx, h, i, amqpURL)
		if err != nil {
			return d, err
		}
		d.fronts = append(d.fronts, f)
	}
	for _, f := range d.fronts {
		if err := f.waitLoaded(60 * time.Second); err != nil {
			return d, err
		}
	}
	if d.account, err = d.admin.CreateAccount(ctx, "bench-"+dc.name+"@bench.localhost"); err != nil {
		return d, err
	}
	d.user = apiclient.New(d.apiURL, d.account.Token)
	env, err := d.user.CreateEnvironment(ctx, "bench", "bench")
	if err != nil {
		return d, err
	}
	d.envID = env.ID
	return d, nil
}

// startFrontend starts the i-th Caddy frontend, with its own frontend record
// and identity, serving the deployment's namespace.
func (d *deployment) startFrontend(ctx context.Context, h *harness, i int, amqpURL string) (*frontend, error) {
	f := &frontend{httpAddr: testenv.FreeAddr(), adminAddr: testenv.FreeAddr()}
	_, port, _ := net.SplitHostPort(f.httpAddr)
	fe, idFile, err := testenv.EnrollFrontend(ctx, d.admin, d.dir, fmt.Sprintf("%s-%d", d.name, i), "http://{host}:"+port, d.namespace)
	if err != nil {
		return nil, err
	}
	f.token = fe.Token
	cfg := deploy.Frontend{
		Admin:       f.adminAddr,
		Controllers: []string{d.ctrl.GRPCAddr()},
		Frontend:    fe.Token,
		Identity:    idFile,
		Site:        "http://:" + port,
		Bind:        "127.0.0.1",
	}
	if amqpURL != "" {
		cfg.Options = []string{"amqp " + amqpURL}
	}
	if h.cfg.FrontendIdleConns > 0 && i == 0 {
		cfg.Handler = fmt.Sprintf(`portico_share
	reverse_proxy {
		dynamic portico
		transport portico {
			keepalive_idle_conns_per_host %d
		}
	}`, h.cfg.FrontendIdleConns)
	}
	p, _, err := testenv.FrontendProc(d.dir, fmt.Sprintf("frontend-%d", i), filepath.Join(h.bin, "caddy"), fe.Secret, cfg)
	if err != nil {
		return nil, err
	}
	f.Proc = p
	err = p.Start()
	return f, err
}

// waitLoaded waits until the frontend has its mapping table.
func (f *frontend) waitLoaded(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var st []struct {
			Loaded bool `json:"loaded"`
		}
		err := getJSON("http://"+f.adminAddr+"/portico/status", &st)
		if err == nil && len(st) == 1 && st[0].Loaded {
			return nil
		}
		if !f.Alive() {
			return fmt.Errorf("%s exited:\n%s", f.Name, f.LogTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not load its table within %s (%v):\n%s", f.Name, d, err, f.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the deployment; it is safe to call more than once.
func (d *deployment) stop() {
	for _, f := range d.fronts {
		f.Stop()
	}
	if d.ctrl != nil {
		d.ctrl.Close()
		<-d.ctrlDone
		d.ctrl = nil
	}
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// fileLogger logs at info level, as JSON, to path.
func fileLogger(path string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{path}, []string{path}
	cfg.Sampling = nil
	return cfg.Build()
}
