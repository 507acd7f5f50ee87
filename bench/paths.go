package bench

// paths.go sets up the four ways a request reaches the backend, which the
// data-plane benchmarks compare.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/porticoproxy/portico/internal/testenv"
)

// path is one way to the backend: where a client connects, the Host it
// sends, and the process in between whose memory is sampled.
type path struct {
	name  string // direct, caddy, ceiling, portico
	label string
	addr  string        // host:port the client connects to
	host  string        // Host header
	proc  *testenv.Proc // the proxy in the path; nil for direct
}

// Path names, in the order tables list them.
const (
	pathDirect  = "direct"
	pathCaddy   = "caddy"
	pathCeiling = "ceiling"
	pathPortico = "portico"
)

var pathLabels = map[string]string{
	pathDirect:  "(a) direct to the backend",
	pathCaddy:   "(b) Caddy reverse_proxy over TCP",
	pathCeiling: "(c) Go proxy over Ziti (ceiling)",
	pathPortico: "(d) Portico over Ziti",
}

// client returns a keep-alive client for p with up to conns connections.
func (p path) client(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Minute,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, p.addr)
			},
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}

func (p path) url(pathAndQuery string) string { return "http://" + p.host + pathAndQuery }

// startPaths starts the plain Caddy, the agent sharing the backend through
// the deployment d, and the ceiling proxy dialing the same share, and
// returns the four paths once each answers.
func startPaths(ctx context.Context, h *harness, d *deployment) ([]path, error) {
	direct := path{name: pathDirect, addr: h.backend.addr, host: h.backend.addr}

	// (b) Caddy's own reverse_proxy, the same binary as the frontend.
	plain := path{name: pathCaddy, addr: testenv.FreeAddr(), host: "plain.localhost"}
	_, port, _ := net.SplitHostPort(plain.addr)
	caddyfile := filepath.Join(h.dir, "plain.caddyfile")
	if err := os.WriteFile(caddyfile, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %[1]s/plain-data
}

http://:%[2]s {
	bind 127.0.0.1
	reverse_proxy %[3]s
}
`, h.dir, port, h.backend.addr)), 0o600); err != nil {
		return nil, err
	}
	var err error
	plain.proc, err = testenv.StartProc(h.dir, "caddy-plain", []string{"XDG_DATA_HOME=" + h.dir, "XDG_CONFIG_HOME=" + h.dir},
		filepath.Join(h.bin, "caddy"), "run", "--config", caddyfile, "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, plain.proc)

	// (d) The real agent, `portico share public`, in its own process.
	home := filepath.Join(h.dir, "agent-home")
	if out, err := exec.CommandContext(ctx, filepath.Join(h.bin, "portico"), "enable", d.account.Token, "--api", d.apiURL, "--home", home).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("portico enable: %v\n%s", err, out)
	}
	agent, err := testenv.StartProc(h.dir, "agent", nil, filepath.Join(h.bin, "portico"), "share", "public", "http://"+h.backend.addr, "--home", home)
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, agent)
	public, err := agent.WaitLine("Public URL: ", 60*time.Second)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(public)
	if err != nil {
		return nil, fmt.Errorf("agent printed a bad public URL %q: %w", public, err)
	}
	portico := path{name: pathPortico, addr: d.fronts[0].httpAddr, host: u.Hostname(), proc: d.fronts[0].Proc}
	share, _, _ := strings.Cut(u.Hostname(), ".")

	// (c) The ceiling: the identity of a frontend of the namespace, so the
	// share's Dial policy admits it, used by nothing else.
	_, idFile, err := testenv.EnrollFrontend(ctx, d.admin, d.dir, "ceiling", "http://{host}", d.namespace)
	if err != nil {
		return nil, err
	}
	ceiling := path{name: pathCeiling, addr: testenv.FreeAddr(), host: u.Hostname()}
	ceiling.proc, err = testenv.StartProc(h.dir, "ziti-proxy", nil, filepath.Join(h.bin, "ziti-proxy"),
		"-identity", idFile, "-service", share, "-listen", ceiling.addr)
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, ceiling.proc)

	paths := []path{direct, plain, ceiling, portico}
	for i := range paths {
		paths[i].label = pathLabels[paths[i].name]
		if err := waitOK(paths[i], 60*time.Second); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// waitOK waits until GET / through p answers 200.
func waitOK(p path, d time.Duration) error {
	c := p.client(1)
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(d)
	for {
		resp, err := c.Get(p.url("/"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if p.proc != nil && !p.proc.Alive() {
			return fmt.Errorf("%s exited:\n%s", p.proc.Name, p.proc.LogTail())
		}
		if time.Now().After(deadline) {
			tail := ""
			if p.proc != nil {
				tail = p.proc.LogTail()
			}
			return fmt.Errorf("%s does not answer within %s: %v\n%s", p.label, d, err, tail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
