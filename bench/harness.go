package bench

// harness.go runs the whole benchmark suite: it starts the stack, runs each
// comparison and collects the figures.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/porticoproxy/portico/internal/testenv"
)

// Config sizes a run. Full is what `make bench` runs; Smoke only checks
// that the harness still works.
type Config struct {
	// Mode names the sizes: "full" or "smoke".
	Mode string `json:"mode"`
	// Rounds is how many times each figure is measured; the median is
	// reported. Each round runs every contender of a comparison once, in a
	// rotating order.
	Rounds int `json:"rounds"`
	// BulkRounds is Rounds for the bulk transfers, which take longest.
	BulkRounds int `json:"bulk_rounds"`
	// Warmup and Duration are one HTTP or WebSocket run's lengths.
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	// Concurrency lists the numbers of clients of the small-request runs.
	Concurrency []int `json:"concurrency"`
	// SmallSize is the small answer's size in bytes.
	SmallSize int `json:"small_size"`
	// BulkSize is the bulk answer's size in bytes.
	BulkSize int64 `json:"bulk_size"`
	// WSMessage is the WebSocket message's size in bytes.
	WSMessage int `json:"ws_message"`
	// Frontends is how many frontend instances each deployment runs.
	Frontends int `json:"frontends"`
	// Shares is how many shares the propagation benchmark creates and
	// deletes, one after another, in each mode and round.
	Shares int `json:"shares"`
	// ShareRounds is Rounds for the propagation and control-plane runs.
	ShareRounds int `json:"share_rounds"`
	// Clients and PerClient shape the concurrent control-plane benchmark:
	// Clients at once, each creating PerClient shares and then deleting them.
	Clients   int `json:"clients"`
	PerClient int `json:"per_client"`
	// Mapping runs the mapping-table benchmarks (go test -bench) at the end.
	Mapping bool `json:"mapping"`
	// MappingCount is their -count.
	MappingCount int `json:"mapping_count"`
	// FrontendIdleConns, if set, serves the share on the first frontend
	// with the long form of the directive and this many idle keep-alive
	// connections per share (Caddy's default is 32), for experiments.
	FrontendIdleConns int `json:"frontend_idle_conns,omitempty"`
	// ProfileDir, if set, receives heap and goroutine profiles of the
	// Portico frontend after each data-plane comparison.
	ProfileDir string `json:"-"`
}

// Full is the configuration of `make bench`.
func Full() Config {
	return Config{Mode: "full", Rounds: 5, BulkRounds: 3, Warmup: 500 * time.Millisecond, Duration: 2 * time.Second,
		Concurrency: []int{1, 16, 64}, SmallSize: 1024, BulkSize: 500_000_000, WSMessage: 64,
		Frontends: 3, Shares: 200, ShareRounds: 3, Clients: 50, PerClient: 2, Mapping: true, MappingCount: 5}
}

// Smoke is the smallest run that still exercises every part, for CI.
func Smoke() Config {
	return Config{Mode: "smoke", Rounds: 2, BulkRounds: 2, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond,
		Concurrency: []int{1, 4}, SmallSize: 1024, BulkSize: 2 << 20, WSMessage: 64,
		Frontends: 3, Shares: 5, ShareRounds: 2, Clients: 5, PerClient: 1}
}

// harness is a run in progress.
type harness struct {
	cfg     Config
	dir     string
	bin     string
	log     io.Writer
	ziti    *testenv.Ziti
	backend *backend
	procs   []*testenv.Proc
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run starts a local OpenZiti network and everything on it, runs every
// benchmark of cfg and returns the figures. Progress goes to log. Nothing
// here judges a timing: the results only report.
func Run(ctx context.Context, cfg Config, log io.Writer) (res *Results, err error) {
	h := &harness{cfg: cfg, log: log}
	// The SDK logs every enrollment at info level.
	logrus.SetLevel(logrus.WarnLevel)
	if h.dir, err = os.MkdirTemp("", "portico-bench-"); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			os.RemoveAll(h.dir)
			return
		}
		if h.ziti != nil {
			if zerr := h.ziti.Exited(); zerr != nil {
				err = fmt.Errorf("%w\nthe OpenZiti network went away: %v", err, zerr)
			}
		}
		h.logf("kept %s for its logs", h.dir)
	}()
	res = newResults(cfg)
	start := time.Now()

	h.bin = filepath.Join(h.dir, "bin")
	built := make(chan error, 1)
	go func() { built <- buildBinaries(ctx, h.bin) }()
	h.logf("starting OpenZiti %s on loopback and building the binaries", testenv.ZitiVersion)
	zctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if h.ziti, err = testenv.StartZiti(zctx, filepath.Join(h.dir, "ziti"), nil); err != nil {
		<-built
		return nil, fmt.Errorf("starting ziti: %w", err)
	}
	defer h.ziti.Stop()
	if err := <-built; err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, filepath.Join(h.bin, "caddy"), "version").Output(); err == nil {
		v, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		res.Versions["caddy"] = v
	}
	if h.backend, err = startBackend(cfg.SmallSize); err != nil {
		return nil, err
	}
	defer h.backend.close()
	defer func() {
		for _, p := range h.procs {
			p.Stop()
		}
	}()

	h.logf("starting the default deployment: controller on SQLite, %d frontends on Watch streams", cfg.Frontends)
	def, err := startDeployment(ctx, h, deploymentConfig{name: "default", frontends: cfg.Frontends})
	if err != nil {
		return nil, err
	}
	defer def.stop()
	paths, err := startPaths(ctx, h, def)
	if err != nil {
		return nil, err
	}
	h.logf("stack up after %s", time.Since(start).Round(time.Second))

	// The small requests go last: at 64 clients they leave the frontend
	// with a backlog of overlay connections to close (see bench/README.md),
	// which would otherwise stall the dials of the comparisons after them.
	h.logf("WebSocket echo: %d rounds", cfg.Rounds)
	if res.WebSocket, err = h.benchWebSocket(ctx, paths); err != nil {
		return nil, err
	}
	h.profile(def.fronts[0], "websocket")
	h.logf("bulk transfer of %d MB: %d rounds", cfg.BulkSize/1e6, cfg.BulkRounds)
	if res.Bulk, err = h.benchBulk(ctx, paths); err != nil {
		return nil, err
	}
	h.profile(def.fronts[0], "bulk")
	h.logf("small requests: %d paths x %v clients x %d rounds", len(paths), cfg.Concurrency, cfg.Rounds)
	if res.HTTP, err = h.benchHTTP(ctx, paths); err != nil {
		return nil, err
	}
	h.profile(def.fronts[0], "http")
	res.computeRatios()
	for _, p := range h.procs {
		p.Stop() // the agent and the proxies: idle from here on
	}

	// Its backlog of overlay dials would keep loading the machine; the
	// propagation runs do not dial, so they start from a fresh process.
	h.logf("restarting %s to drop its backlog of overlay dials", def.fronts[0].Name)
	if err := def.fronts[0].Restart(); err != nil {
		return nil, err
	}
	if err := def.fronts[0].waitLoaded(60 * time.Second); err != nil {
		return nil, err
	}

	h.logf("starting the cluster-mode deployment: controller on PostgreSQL publishing to RabbitMQ, %d frontends on AMQP", cfg.Frontends)
	cl, err := startDeployment(ctx, h, deploymentConfig{name: "cluster", frontends: cfg.Frontends, cluster: true})
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	if err := h.benchShares(ctx, res, []shareTarget{{def, "watch", "sqlite"}, {cl, "amqp", "postgres"}}); err != nil {
		return nil, err
	}
	def.stop()
	cl.stop()

	if cfg.Mapping {
		h.logf("mapping table: go test -bench ./bench/ -count %d", cfg.MappingCount)
		if res.Mapping, err = h.benchMapping(ctx); err != nil {
			return nil, err
		}
	}
	res.evaluate()

	res.Elapsed = time.Since(start).Seconds()
	return res, nil
}

// shareTarget is a deployment that the propagation and control-plane
// benchmarks run on, and what to call its mode and its store.
type shareTarget struct {
	d           *deployment
	mode, store string
}

// benchShares runs the propagation and control-plane benchmarks on each
// target, in rounds that alternate between the targets.
func (h *harness) benchShares(ctx context.Context, res *Results, targets []shareTarget) error {
	var props []PropagationFigure
	var calls []ControlPlaneFigure
	for r := range h.cfg.ShareRounds {
		for _, i := range rotation(len(targets), r) {
			t := targets[i]
			h.logf("propagation (%s), round %d: %d shares created, then deleted, one at a time, on %d frontends", t.mode, r+1, h.cfg.Shares, len(t.d.fronts))
			p, serial, err := h.benchPropagation(ctx, t.d, t.mode, t.store, h.cfg.Shares)
			if err != nil {
				return err
			}
			props, calls = append(props, p...), append(calls, serial...)
		}
		for _, i := range rotation(len(targets), r) {
			t := targets[i]
			h.logf("control plane (%s), round %d: %d clients at once, %d creates each, then the deletes", t.store, r+1, h.cfg.Clients, h.cfg.PerClient)
			conc, err := h.benchConcurrentAPI(ctx, t.d, t.store)
			if err != nil {
				return err
			}
			calls = append(calls, conc...)
		}
	}
	res.Propagation, res.ControlPlane = medianPropagation(props), medianControlPlane(calls)
	return nil
}

// profile saves the frontend's heap and goroutine profiles, from Caddy's
// admin endpoint, into cfg.ProfileDir as <section>-heap.pprof and
// <section>-goroutines.txt.
func (h *harness) profile(f *frontend, section string) {
	if h.cfg.ProfileDir == "" {
		return
	}
	if err := os.MkdirAll(h.cfg.ProfileDir, 0o755); err != nil {
		h.logf("profiles: %v", err)
		return
	}
	for name, url := range map[string]string{
		section + "-heap.pprof":     "http://" + f.adminAddr + "/debug/pprof/heap",
		section + "-goroutines.txt": "http://" + f.adminAddr + "/debug/pprof/goroutine?debug=1",
	} {
		resp, err := http.Get(url)
		if err != nil {
			h.logf("profiles: %v", err)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			err = os.WriteFile(filepath.Join(h.cfg.ProfileDir, name), b, 0o644)
		}
		if err != nil {
			h.logf("profiles: %v", err)
		}
	}
	h.logf("saved profiles of %s after %s; its RSS is %.0f MiB", f.Name, section, mib(rssBytes(f.Pid())))
}
