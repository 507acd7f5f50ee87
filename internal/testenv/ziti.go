package testenv

// This file finds the ziti binary and runs a throwaway OpenZiti quickstart network on loopback.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/porticoproxy/portico/deploy"
)

// ZitiVersion is the OpenZiti release that the tests run against and scripts/ziti-build.sh builds.
const ZitiVersion = "v1.6.0"

// ZitiBuild names the cached binary: the release plus the upstream fixes that
// scripts/ziti-build.sh applies (see there).
const ZitiBuild = ZitiVersion + "-bbolt-copy-connid-signer"

// zitiReadyTimeout bounds the quickstart's start; it takes 7–19 s on the 2-core machines here.
const zitiReadyTimeout = 90 * time.Second

// zitiReadyLine is what quickstart prints once both the controller and its router run.
const zitiReadyLine = "controller and router started."

// ZitiBinary returns the path of the ziti binary: $PORTICO_ZITI_BIN if set, else the build that
// scripts/ziti-build.sh caches under ${XDG_CACHE_HOME:-$HOME/.cache}/portico.
func ZitiBinary() (string, error) {
	if p := os.Getenv("PORTICO_ZITI_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ziti binary from PORTICO_ZITI_BIN: %w", err)
		}
		return p, nil
	}
	// PORTICO_CACHE mirrors scripts/ziti-build.sh, so both agree on where the binary lives.
	cache := os.Getenv("PORTICO_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("finding the ziti binary: %w", err)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "portico")
	}
	p := filepath.Join(cache, "ziti-"+ZitiBuild)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("ziti %s not found at %s: run scripts/ziti-build.sh (or set PORTICO_ZITI_BIN)", ZitiBuild, p)
	}
	return p, nil
}

// Ziti is a running quickstart network: one controller and one edge router in one process.
type Ziti struct {
	// ManagementURL is the Edge Management API, https://127.0.0.1:P/edge/management/v1.
	ManagementURL string
	// ClientURL is the Edge Client API, https://127.0.0.1:P/edge/client/v1.
	ClientURL string
	// CtrlAddress is the controller's base address, https://127.0.0.1:P.
	CtrlAddress string
	// Username and Password are the admin credentials.
	Username, Password string
	// Home is the quickstart's --home directory (PKI, database, configs).
	Home string
	// LogFile holds the quickstart's stdout and stderr.
	LogFile string
	// CtrlPort and RouterPort are the loopback ports of the controller and the edge router.
	CtrlPort, RouterPort int
	// ID is the member's instance id in a cluster (ZitiCluster); empty for
	// a single quickstart.
	ID string
	// RouterConfig is the edge router's config file.
	RouterConfig string

	args []string // the quickstart command
	env  []string
	log  io.Writer

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopped  atomic.Bool // by Stop, while it was running
}

// StartZiti runs `ziti edge quickstart` with its state under dir and waits until the controller
// and its router are up. The router runs with the xgress options of
// deploy/ziti-router-xgress.yml, unless PORTICO_ZITI_ROUTER_TUNING=off (to measure without them).
// Output goes to dir/ziti.log and, if log is not nil, to log too. ctx bounds only the start; call
// Stop to end the network.
func StartZiti(ctx context.Context, dir string, log io.Writer) (*Ziti, error) {
	bin, err := ZitiBinary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("choosing ports for ziti: %w", err)
	}
	cfgDir := filepath.Join(dir, "cfg")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating ziti config dir: %w", err)
	}
	z := newZiti(filepath.Join(dir, "home"), filepath.Join(dir, "ziti.log"), ports[0], ports[1], log)
	z.RouterConfig = filepath.Join(z.Home, "router.yaml")
	z.args = z.quickstart(bin)
	// A fixed router name puts its config at home/router.yaml for a restart to find.
	z.env = append(zitiEnv(cfgDir), "ZITI_ROUTER_NAME=router")
	if err := z.start(ctx); err != nil {
		return nil, err
	}
	return z, z.tuneRouter(ctx, z.args)
}

func newZiti(home, logFile string, ctrlPort, routerPort int, log io.Writer) *Ziti {
	ctrl := "https://127.0.0.1:" + strconv.Itoa(ctrlPort)
	return &Ziti{
		ManagementURL: ctrl + "/edge/management/v1",
		ClientURL:     ctrl + "/edge/client/v1",
		CtrlAddress:   ctrl,
		Username:      "admin",
		Password:      "admin",
		Home:          home,
		LogFile:       logFile,
		CtrlPort:      ctrlPort,
		RouterPort:    routerPort,
		log:           log,
	}
}

// quickstart is the command that runs z, with the subcommand words after
// "quickstart" (none, "ha" or "join").
func (z *Ziti) quickstart(bin string, sub ...string) []string {
	args := append([]string{bin, "edge", "quickstart"}, sub...)
	return append(args, "--home", z.Home,
		"--username", z.Username, "--password", z.Password,
		"--ctrl-address", "127.0.0.1", "--router-address", "127.0.0.1",
		"--ctrl-port", strconv.Itoa(z.CtrlPort), "--router-port", strconv.Itoa(z.RouterPort))
}

// routerName is the name quickstart gives the process's edge router.
func (z *Ziti) routerName() string {
	if z.ID != "" {
		return "router-" + z.ID
	}
	return "router" // ZITI_ROUTER_NAME
}

// zitiEnv is the environment of a quickstart on loopback.
func zitiEnv(cfgDir string) []string {
	return append(os.Environ(),
		"ZITI_CTRL_BIND_ADDRESS=127.0.0.1",
		"ZITI_CTRL_EDGE_BIND_ADDRESS=127.0.0.1",
		// A per-run CLI state dir keeps parallel runs from sharing a login.
		"ZITI_CONFIG_DIR="+cfgDir,
	)
}

// tuneRouter gives the running z's router the xgress options and starts z
// again with restart, unless PORTICO_ZITI_ROUTER_TUNING=off (to measure
// without them). Quickstart writes the router's config and runs it at once,
// so the options go in between two runs; the second finds its database and
// config in home and starts in about 5 s.
func (z *Ziti) tuneRouter(ctx context.Context, restart []string) error {
	if os.Getenv("PORTICO_ZITI_ROUTER_TUNING") == "off" {
		return nil
	}
	z.halt()
	if err := deploy.TuneZitiRouter(z.RouterConfig); err != nil {
		return err
	}
	z.args = restart
	if err := z.start(ctx); err != nil {
		return err
	}
	// The ready line of the second run can come before the controller lists the restarted
	// router online again, and a bind or dial then would find no router.
	return z.waitRouterOnline(ctx)
}

// waitRouterOnline waits until the process's edge router is online at its controller.
func (z *Ziti) waitRouterOnline(ctx context.Context) error {
	return z.poll(ctx, "with its router online", func() bool { return z.routerOnline(ctx) })
}

// start runs quickstart and waits until it is ready, appending to the log.
func (z *Ziti) start(ctx context.Context) error {
	logFile, err := os.OpenFile(z.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("opening ziti log: %w", err)
	}
	fi, err := logFile.Stat()
	if err != nil {
		logFile.Close()
		return err
	}
	var out io.Writer = logFile
	if z.log != nil {
		out = io.MultiWriter(logFile, z.log)
	}
	// Not exec.CommandContext: ctx bounds the start, not the network's life.
	z.cmd = exec.Command(z.args[0], z.args[1:]...)
	z.cmd.Env = z.env
	z.cmd.Stdout, z.cmd.Stderr = out, out
	setProcessGroup(z.cmd)
	z.exited = make(chan struct{})
	if err := z.cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting ziti quickstart: %w", err)
	}
	cmd, exited := z.cmd, z.exited
	go func() {
		z.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	if err := z.waitReady(ctx, fi.Size()); err != nil {
		z.Stop()
		return err
	}
	return nil
}

// waitReady waits for quickstart's ready line, or for its router to be online, which does not
// depend on the wording of a log line.
func (z *Ziti) waitReady(ctx context.Context, logFrom int64) error {
	n := 0
	return z.poll(ctx, "ready", func() bool {
		n++
		if b, err := os.ReadFile(z.LogFile); err == nil && int64(len(b)) > logFrom && bytes.Contains(b[logFrom:], []byte(zitiReadyLine)) {
			return true
		}
		return n%8 == 0 && z.routerOnline(ctx)
	})
}

// poll asks done every 250 ms until it holds, within ctx and zitiReadyTimeout, and fails
// with the end of the log if the process exits first. what says what done waits for.
func (z *Ziti) poll(ctx context.Context, what string, done func() bool) error {
	deadline := time.NewTimer(zitiReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for ziti quickstart to be %s: %w; log %s ends:\n%s", what, ctx.Err(), z.LogFile, z.LogTail(40))
		case <-z.exited:
			return fmt.Errorf("ziti quickstart exited before it was %s (%v); log %s ends:\n%s", what, z.waitErr, z.LogFile, z.LogTail(40))
		case <-deadline.C:
			return fmt.Errorf("ziti quickstart not %s after %s; log %s ends:\n%s", what, zitiReadyTimeout, z.LogFile, z.LogTail(40))
		case <-tick.C:
			if done() {
				return nil
			}
		}
	}
}

// routerOnline asks the management API whether the process's own edge
// router is online (in a cluster, every member lists every router).
func (z *Ziti) routerOnline(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, err := z.Management(ctx, http.MethodGet, "/edge-routers?filter="+url.QueryEscape(fmt.Sprintf("name=%q", z.routerName())), "")
	return err == nil && bytes.Contains(b, []byte(`"isOnline":true`))
}

// Management calls the network's Edge Management API as its admin, for tests that change
// the overlay behind Portico's back, and returns the answer's body. It skips TLS
// verification: it talks to the loopback process the tests started.
func (z *Ziti) Management(ctx context.Context, method, path, body string) ([]byte, error) {
	return z.call(ctx, method, z.ManagementURL+path, body)
}

// Fabric calls the network's Fabric Management API (/fabric/v1) as Management does.
func (z *Ziti) Fabric(ctx context.Context, method, path, body string) ([]byte, error) {
	return z.call(ctx, method, z.CtrlAddress+"/fabric/v1"+path, body)
}

// call logs in to the Edge Management API and sends one request to target.
func (z *Ziti) call(ctx context.Context, method, target, body string) ([]byte, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	do := func(method, target, token, body string) (*http.Response, []byte, error) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("zt-session", token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode/100 != 2 {
			err = fmt.Errorf("%s %s: %s: %s", method, target, resp.Status, b)
		}
		return resp, b, err
	}
	resp, _, err := do(http.MethodPost, z.ManagementURL+"/authenticate?method=password", "", fmt.Sprintf(`{"username":%q,"password":%q}`, z.Username, z.Password))
	if err != nil {
		return nil, err
	}
	_, b, err := do(method, target, resp.Header.Get("zt-session"), body)
	return b, err
}

// LogTail returns the last n lines of the quickstart log, for error messages.
func (z *Ziti) LogTail(n int) string {
	b, err := os.ReadFile(z.LogFile)
	if err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Exited reports, once the network has stopped on its own (not by Stop),
// how it ended and the end of its log (a crash's stack trace), and nil while
// it runs. A test that fails against a network that went away says so.
func (z *Ziti) Exited() error {
	select {
	case <-z.exited:
	default:
		return nil
	}
	if z.stopped.Load() {
		return nil
	}
	b, _ := os.ReadFile(z.LogFile)
	for _, mark := range []string{"\npanic: ", "\nfatal error: "} {
		if i := bytes.Index(b, []byte(mark)); i >= 0 {
			lines := strings.Split(string(b[i+1:]), "\n")
			return fmt.Errorf("ziti quickstart crashed (%v); log %s:\n%s", z.waitErr, z.LogFile, strings.Join(lines[:min(len(lines), 40)], "\n"))
		}
	}
	return fmt.Errorf("ziti quickstart exited (%v); log %s ends:\n%s", z.waitErr, z.LogFile, z.LogTail(40))
}

// Stop ends the network: SIGTERM to its process group (it exits in about 1 s), then SIGKILL
// after 10 s. It is safe to call more than once.
func (z *Ziti) Stop() {
	z.stopOnce.Do(func() {
		select {
		case <-z.exited: // on its own, before this Stop
		default:
			z.stopped.Store(true)
		}
		z.halt()
	})
}

// halt ends the running quickstart process.
func (z *Ziti) halt() {
	signalGroup(z.cmd, false)
	select {
	case <-z.exited:
	case <-time.After(10 * time.Second):
		signalGroup(z.cmd, true)
		<-z.exited
	}
}

// Ports are picked below the kernel's ephemeral range (32768 and up on Linux), so that
// between the pick and the bind no outgoing connection takes one as its source port and no
// listener on port 0 is handed it; a pick is tried with a bind and never handed out twice
// by this process. Each test binary starts at a random place in the range, so that
// binaries running at once rarely try the same ports.
const (
	portLow  = 20000
	portHigh = 32767
)

var (
	portsMu   sync.Mutex
	portsNext = portLow + rand.IntN(portHigh-portLow)
	portsUsed = map[int]bool{}
)

// freePorts returns n distinct free loopback TCP ports.
func freePorts(n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > portHigh-portLow {
			return nil, fmt.Errorf("no free loopback port between %d and %d", portLow, portHigh)
		}
		p := portsNext
		portsNext++
		if portsNext > portHigh {
			portsNext = portLow
		}
		if portsUsed[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		portsUsed[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// FreeAddr returns a free loopback TCP address, such as 127.0.0.1:41234.
func FreeAddr() string {
	ports, err := freePorts(1)
	if err != nil {
		panic("no free loopback port: " + err.Error())
	}
	return "127.0.0.1:" + strconv.Itoa(ports[0])
}
