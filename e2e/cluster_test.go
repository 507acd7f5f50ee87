package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/deploy"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/broker"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/testenv"
)

const clusterNamespace = "cluster.localhost"

// proc is a child process of a test; start fails the test if it cannot run.
type proc struct{ testenv.Proc }

func (p *proc) start(t *testing.T) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
}

type clusterController struct {
	proc
	api, grpc string
}

type clusterFrontend struct {
	proc
	dir       string // its storage and cache
	token     string
	adminAddr string
	httpAddr  string
	caddyfile string
}

// cluster is 2 controllers on one PostgreSQL database and RabbitMQ vhost, and
// 3 frontend instances: two that share a token and an identity, and one with
// its own token, all serving one namespace.
type cluster struct {
	dir         string
	dsn, amqp   string
	ctrls       []*clusterController
	fronts      []*clusterFrontend
	admin       *apiclient.Client
	st          *store.Store // a direct view of the database, to compare with
	adminToken  string
	controllers string // every API address, comma-separated
}

func startCluster(t *testing.T) *cluster {
	c := &cluster{dir: t.TempDir(), dsn: testenv.Postgres(t), amqp: testenv.RabbitMQ(t), adminToken: "cluster-admin-token-0123456789"}
	bin := filepath.Dir(stack.portico)
	var apis, grpcs []string
	for _, id := range []string{"ctrl-a", "ctrl-b"} {
		cc := &clusterController{api: testenv.FreeAddr(), grpc: testenv.FreeAddr()}
		cfg := filepath.Join(c.dir, id+".yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`id: %s
api: %s
grpc: %s
store: %s
admin_token: %s
amqp:
  url: %s
ziti:
  management_url: %s
  username: %s
  password: %s
workers:
  reconcile_every: 1s
`, id, cc.api, cc.grpc, c.dsn, c.adminToken, c.amqp, stack.ziti.CtrlAddress, stack.ziti.Username, stack.ziti.Password)), 0o600)
		cc.proc = proc{testenv.Proc{Name: id, Args: []string{filepath.Join(bin, "portico-controller"), "--config", cfg}, Log: filepath.Join(c.dir, id+".log")}}
		cc.start(t)
		t.Cleanup(cc.Kill)
		c.ctrls = append(c.ctrls, cc)
		apis, grpcs = append(apis, "http://"+cc.api), append(grpcs, cc.grpc)
	}
	c.controllers = strings.Join(apis, ",")
	c.admin = apiclient.New(c.controllers, c.adminToken)
	for _, cc := range c.ctrls {
		wantWithin(t, 60*time.Second, cc.Name+" to answer", func() error {
			_, err := apiclient.New("http://"+cc.api, c.adminToken).Namespaces(context.Background())
			if err != nil && !cc.Alive() {
				t.Fatalf("%s exited:\n%s", cc.Name, cc.LogTail())
			}
			return err
		})
	}
	st, err := store.Open(context.Background(), c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c.st = st

	ctx := context.Background()
	if _, err := c.admin.CreateNamespace(ctx, clusterNamespace, true); err != nil {
		t.Fatal(err)
	}
	// Two frontend records: the first runs as two instances sharing its token and identity.
	for i, instances := range []int{2, 1} {
		httpAddrs := make([]string, instances)
		for j := range httpAddrs {
			httpAddrs[j] = testenv.FreeAddr()
		}
		_, port, _ := net.SplitHostPort(httpAddrs[0])
		fe, idFile := newFrontendRecord(t, c.admin, c.dir, fmt.Sprintf("cluster-%d", i), "http://{host}:"+port, clusterNamespace)
		for j, httpAddr := range httpAddrs {
			f := newFrontendProc(t, c.dir, fmt.Sprintf("frontend-%d%c", i+1, 'a'+j), grpcs, fe, idFile, httpAddr, "amqp "+c.amqp)
			f.start(t)
			t.Cleanup(f.Kill)
			c.fronts = append(c.fronts, f)
		}
	}
	for _, f := range c.fronts {
		f.waitLoaded(t)
	}
	return c
}

// newFrontendRecord creates a frontend record that serves namespace ns,
// enrolls its identity and writes it to a file in dir.
func newFrontendRecord(t *testing.T, admin *apiclient.Client, dir, description, urlTemplate, ns string) (apitypes.Frontend, string) {
	t.Helper()
	fe, idFile, err := testenv.EnrollFrontend(context.Background(), admin, dir, description, urlTemplate, ns)
	if err != nil {
		t.Fatal(err)
	}
	return fe, idFile
}

// newFrontendProc makes a frontend instance that runs bin/caddy in its own
// process, with its own admin endpoint, storage and cache in dir/name, for
// the frontend record fe with the identity in idFile; options are more lines
// of its portico block, such as "amqp <url>".
func newFrontendProc(t *testing.T, dir, name string, controllers []string, fe apitypes.Frontend, idFile, httpAddr string, options ...string) *clusterFrontend {
	t.Helper()
	f := &clusterFrontend{dir: filepath.Join(dir, name), token: fe.Token, adminAddr: testenv.FreeAddr(), httpAddr: httpAddr}
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	p, caddyfile, err := testenv.FrontendProc(dir, name, filepath.Join(filepath.Dir(stack.portico), "caddy"), fe.Secret, deploy.Frontend{
		Admin:       f.adminAddr,
		Controllers: controllers,
		Frontend:    fe.Token,
		Identity:    idFile,
		// Changes must arrive through the broker or the Watch stream: no
		// periodic resync hides a lost one within a test.
		Options: append([]string{"resync_interval 1h"}, options...),
		Site:    "http://:" + httpPort,
		Bind:    "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.proc, f.caddyfile = proc{*p}, caddyfile
	return f
}

// waitLoaded waits for the instance to load its table.
func (f *clusterFrontend) waitLoaded(t *testing.T) {
	t.Helper()
	wantWithin(t, 30*time.Second, f.Name+" to load its table", func() error {
		if !f.Alive() {
			t.Fatalf("%s exited:\n%s", f.Name, f.LogTail())
		}
		st, err := f.status()
		if err != nil {
			return fmt.Errorf("%w; its log ends:\n%s", err, f.LogTail())
		}
		if !st.Loaded {
			return fmt.Errorf("not loaded: %+v", st)
		}
		return nil
	})
}

// get sends one request for host through this instance, on a new connection.
func (f *clusterFrontend) get(host, path string) (int, string, error) {
	return getThrough(f.httpAddr, host, path)
}

// serves checks that host answers 200 through the instance.
func (f *clusterFrontend) serves(host string) func() error {
	return func() error {
		code, body, err := f.get(host, "/")
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if code != 200 {
			return fmt.Errorf("%s: status %d (%q)", f.Name, code, body)
		}
		return nil
	}
}

// closeIdleConns makes the instance drop every idle connection to agents,
// so the requests that follow dial the overlay anew: a forced reload builds
// a new transport and cleans up the old one's pool.
func (f *clusterFrontend) closeIdleConns(t *testing.T) {
	t.Helper()
	out, err := exec.Command(filepath.Join(filepath.Dir(stack.portico), "caddy"), "reload", "--force",
		"--config", f.caddyfile, "--adapter", "caddyfile", "--address", f.adminAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("reloading %s: %v\n%s", f.Name, err, out)
	}
	if err := testenv.WaitOneListener(f.httpAddr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

type frontendStatus struct {
	Loaded    bool   `json:"loaded"`
	Connected bool   `json:"connected"`
	Revision  int64  `json:"revision"`
	LastError string `json:"last_error"`
	Broker    *struct {
		Connected   bool   `json:"connected"`
		Connections uint64 `json:"connections"`
		Applied     uint64 `json:"applied"`
		Malformed   uint64 `json:"malformed"`
	} `json:"broker"`
}

// brokerCounters reads every instance's broker counters.
func (c *cluster) brokerCounters(t *testing.T) []frontendStatus {
	t.Helper()
	out := make([]frontendStatus, len(c.fronts))
	for i, f := range c.fronts {
		st, err := f.status()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if st.Broker == nil {
			t.Fatalf("%s reports no broker consumer: %+v", f.Name, st)
		}
		out[i] = st
	}
	return out
}

func (f *clusterFrontend) status() (frontendStatus, error) {
	var out []frontendStatus
	if err := adminJSON(f.adminAddr, "/portico/status", &out); err != nil {
		return frontendStatus{}, err
	}
	if len(out) != 1 {
		return frontendStatus{}, fmt.Errorf("%d runtimes", len(out))
	}
	return out[0], nil
}

// adminMapping is a mapping as a frontend's admin endpoint lists it, its
// policy redacted.
type adminMapping struct {
	Name   string          `json:"name"`
	Share  string          `json:"share"`
	Policy json.RawMessage `json:"policy"`
}

// adminMappings returns what a frontend's admin endpoint lists.
func adminMappings(admin string) (int64, []adminMapping, error) {
	var out []struct {
		Revision int64          `json:"revision"`
		Mappings []adminMapping `json:"mappings"`
	}
	if err := adminJSON(admin, "/portico/mappings", &out); err != nil {
		return 0, nil, err
	}
	if len(out) != 1 {
		return 0, nil, fmt.Errorf("%d runtimes", len(out))
	}
	return out[0].Revision, out[0].Mappings, nil
}

// table returns the instance's revision and its mappings by host.
func (f *clusterFrontend) table() (int64, map[string]adminMapping, error) {
	rev, ms, err := adminMappings(f.adminAddr)
	m := map[string]adminMapping{}
	for _, e := range ms {
		m[e.Name] = e
	}
	return rev, m, err
}

// adminJSON GETs path from a Caddy admin endpoint, host:port or
// unix/<socket> as Caddy names it, and decodes the answer into v.
func adminJSON(admin, path string, v any) error {
	sock, ok := strings.CutPrefix(admin, "unix/")
	if !ok {
		return getJSON("http://"+admin+path, v)
	}
	sock, _, _ = strings.Cut(sock, "|") // the socket's permission bits
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	return getJSONWith(client, "http://localhost"+path, v)
}

func getJSON(url string, v any) error { return getJSONWith(http.DefaultClient, url, v) }

func getJSONWith(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// converged checks that every instance's table equals the store's mappings
// for its token, entry by entry (share, policy and agents), deletes included.
func (c *cluster) converged() error {
	for _, f := range c.fronts {
		var storeRev int64
		want := map[string]mapping.Mapping{}
		if err := c.st.Snapshot(context.Background(), f.token, store.Page{Entries: 1000}, func(rev int64, ms []mapping.Mapping) error {
			storeRev = rev
			for _, m := range ms {
				want[m.Name] = m
			}
			return nil
		}); err != nil {
			return err
		}
		rev, got, err := f.table()
		if err != nil && !f.Alive() {
			return fmt.Errorf("%s exited:\n%s", f.Name, f.LogTail())
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if rev != storeRev {
			return fmt.Errorf("%s at revision %d, store at %d", f.Name, rev, storeRev)
		}
		for name, m := range want {
			if g := got[name]; g.Share != m.Share || !bytes.Equal(g.Policy, policy.Redacted(m.Policy)) {
				return fmt.Errorf("%s maps %s to %q with policy %s, store to %q with %s", f.Name, name, g.Share, g.Policy, m.Share, m.Policy)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				return fmt.Errorf("%s still maps %s, which the store deleted", f.Name, name)
			}
		}
	}
	return nil
}

// churn creates n shares and deletes every second one, spread over both
// controllers with 8 clients at once; it returns the shares left.
func (c *cluster) churn(t *testing.T, accountToken, envID string, n int) []string {
	t.Helper()
	clients := []*apiclient.Client{}
	for _, cc := range c.ctrls {
		if cc.Alive() {
			clients = append(clients, apiclient.New("http://"+cc.api, accountToken))
		}
	}
	var (
		mu   sync.Mutex
		left []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8)
	)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx := context.Background()
			req := apitypes.ShareRequest{EnvironmentID: envID, Target: "http://127.0.0.1:1", Namespace: clusterNamespace}
			if i%3 == 0 { // a policy of its own, which every instance must carry too
				req.Policy = &policy.Policy{IPDeny: []string{fmt.Sprintf("203.0.113.%d", i%250)}}
			}
			sh, err := clients[i%len(clients)].CreateShare(ctx, req)
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			if i%2 == 0 {
				if err := clients[(i+1)%len(clients)].DeleteShare(ctx, sh.Token); err != nil {
					t.Errorf("delete %s: %v", sh.Token, err)
				}
				return
			}
			mu.Lock()
			left = append(left, sh.Token)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return left
}

// servesNewShare starts an agent in home for a new share and checks that
// every live instance answers it, 20 times each, with its idle connections
// to agents in place and again without them (new overlay dials).
func (c *cluster) servesNewShare(t *testing.T, home string) {
	t.Helper()
	ag := startAgent(t, home, newBackend(t).URL)
	defer ag.stop(t)
	var live []*clusterFrontend
	for _, f := range c.fronts {
		if f.Alive() {
			live = append(live, f)
			wantWithin(t, 5*time.Second, "the new share through "+f.Name, f.serves(ag.host))
		}
	}
	serveAll(t, live, []string{ag.host}, 20)
	for _, f := range live {
		f.closeIdleConns(t)
	}
	serveAll(t, live, []string{ag.host}, 20)
}

func TestCluster(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	acct, err := c.admin.CreateAccount(ctx, fmt.Sprintf("cluster-%d@e2e.localhost", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	env, err := apiclient.New(c.controllers, acct.Token).CreateEnvironment(ctx, "churn", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	agentHome := t.TempDir()
	if out, err := exec.Command(stack.portico, "enable", acct.Token, "--api", c.controllers, "--home", agentHome).CombinedOutput(); err != nil {
		t.Fatalf("portico enable: %v\n%s", err, out)
	}

	// Two of the instances share one identity; each must serve on its own.
	t.Run("every instance serves a share created after it started", func(t *testing.T) {
		c.servesNewShare(t, agentHome)
	})

	// Every instance resyncs once an hour only, so what converges below came
	// through RabbitMQ; the broker counters say so.
	t.Run("concurrent churn converges everywhere", func(t *testing.T) {
		// A message is counted when it arrives and the revision moves when the
		// pull it causes is done, so start from tables that are up to date.
		wantWithin(t, 5*time.Second, "every instance to equal the store first", c.converged)
		before := c.brokerCounters(t)
		c.churn(t, acct.Token, env.ID, 200) // 200 creates and 100 deletes
		start := time.Now()
		wantWithin(t, 3*time.Second, "every instance to equal the store", c.converged)
		t.Logf("converged %s after the last change", time.Since(start).Round(time.Millisecond))
		// A pull may bring in changes whose messages are still on their way.
		wantWithin(t, 5*time.Second, "the broker to deliver a message for every new revision", func() error {
			for i, after := range c.brokerCounters(t) {
				got, want := after.Broker.Applied-before[i].Broker.Applied, after.Revision-before[i].Revision
				if int64(got) < want {
					return fmt.Errorf("%s got %d messages from the broker for %d new revisions", c.fronts[i].Name, got, want)
				}
			}
			return nil
		})
		c.servesNewShare(t, agentHome)
	})

	t.Run("the journal has no holes", func(t *testing.T) {
		for _, f := range c.fronts {
			changes, cur, tooOld, err := c.st.Changes(ctx, f.token, 0, store.Page{Entries: 100000})
			if err != nil || tooOld {
				t.Fatalf("%s journal: %v, tooOld %v", f.Name, err, tooOld)
			}
			for i, ch := range changes {
				if ch.Revision != int64(i+1) {
					t.Fatalf("%s: change %d has revision %d", f.token, i, ch.Revision)
				}
			}
			if int64(len(changes)) != cur {
				t.Fatalf("%s: %d changes up to revision %d", f.token, len(changes), cur)
			}
		}
	})

	t.Run("bad broker messages are rejected", func(t *testing.T) {
		before := c.brokerCounters(t)
		// Four that no consumer can decode, and one well-formed upsert far
		// ahead of the journal, which only a journal pull can judge.
		const undecodable = 4
		for _, tok := range []string{c.fronts[0].token, c.fronts[2].token} {
			testenv.PublishRaw(t, c.amqp, broker.DefaultExchange, tok, "\\x00garbage", `[]`,
				`{"frontend":"`+tok+`","revision":5,"op":"rename","name":"x","share":"y"}`,
				`{"frontend":"`+tok+`","revision":-3,"op":"upsert","name":"x","share":"y"}`,
				`{"frontend":"`+tok+`","revision":9223372036854775807,"op":"upsert","name":"huge.`+clusterNamespace+`","share":"y"}`)
		}
		wantWithin(t, 5*time.Second, "every instance to drop the undecodable messages", func() error {
			for i, after := range c.brokerCounters(t) {
				if got := after.Broker.Malformed - before[i].Broker.Malformed; got != undecodable {
					return fmt.Errorf("%s dropped %d malformed messages, want %d", c.fronts[i].Name, got, undecodable)
				}
			}
			return nil
		})
		for _, f := range c.fronts {
			_, table, err := f.table()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := table["huge."+clusterNamespace]; ok {
				t.Fatalf("%s applied a change that is not in the journal", f.Name)
			}
		}
		c.churn(t, acct.Token, env.ID, 6)
		wantWithin(t, 5*time.Second, "every instance to stay equal to the store", c.converged)
		for _, f := range c.fronts {
			if !f.Alive() {
				t.Fatalf("%s died on bad messages:\n%s", f.Name, f.LogTail())
			}
		}
	})

	t.Run("broker outage converges after it", func(t *testing.T) {
		before := c.brokerCounters(t)
		restore := testenv.RabbitMQOutage(t, c.amqp)
		c.churn(t, acct.Token, env.ID, 20)
		time.Sleep(time.Second) // the outage lasts while the controllers publish into it
		restore()
		back := time.Now()
		// What was published into the outage is gone: each instance reconnects and pulls the journal.
		wantWithin(t, 15*time.Second, "convergence after the outage", c.converged)
		t.Logf("converged %s after the broker came back", time.Since(back).Round(time.Millisecond))
		for i, after := range c.brokerCounters(t) {
			if after.Broker.Connections <= before[i].Broker.Connections {
				t.Errorf("%s did not reconnect to the broker: %d connections before, %d after", c.fronts[i].Name, before[i].Broker.Connections, after.Broker.Connections)
			}
		}
		c.servesNewShare(t, agentHome)
	})

	t.Run("instances are listed with their lag", func(t *testing.T) {
		lagOf := func(token string) (lags []int64, err error) {
			ins, err := c.admin.Instances(ctx)
			if err != nil {
				return nil, err
			}
			for _, in := range ins {
				if in.Frontend == token {
					lags = append(lags, in.Lag)
				}
			}
			return lags, nil
		}
		wantWithin(t, 12*time.Second, "3 live instances, none behind", func() error {
			n := 0
			for _, tok := range []string{c.fronts[0].token, c.fronts[2].token} {
				lags, err := lagOf(tok)
				if err != nil {
					return err
				}
				for _, l := range lags {
					if l != 0 {
						return fmt.Errorf("an instance of %s lags %d", tok, l)
					}
				}
				n += len(lags)
			}
			if n != 3 {
				return fmt.Errorf("%d instances", n)
			}
			return nil
		})
		out, err := exec.Command(stack.portico, "admin", "frontends", "--api", c.controllers, "--admin-token", c.adminToken).CombinedOutput()
		if err != nil || strings.Count(string(out), c.fronts[0].token) != 2 || !strings.Contains(string(out), c.fronts[2].token) {
			t.Fatalf("portico admin frontends: %v\n%s", err, out)
		}

		// A paused instance falls behind, and the listing says by how much.
		paused := c.fronts[2]
		if err := syscall.Kill(paused.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		c.churn(t, acct.Token, env.ID, 4)
		wantWithin(t, 5*time.Second, paused.Name+" to be listed behind", func() error {
			lags, err := lagOf(paused.token)
			if err != nil || len(lags) != 1 || lags[0] < 2 {
				return fmt.Errorf("lags %v, %v; want one instance at least 2 behind", lags, err)
			}
			return nil
		})
		if err := syscall.Kill(paused.Pid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		wantWithin(t, 15*time.Second, paused.Name+" to catch up", func() error {
			if lags, err := lagOf(paused.token); err != nil || len(lags) != 1 || lags[0] != 0 {
				return fmt.Errorf("lags %v, %v", lags, err)
			}
			return nil
		})
	})

	t.Run("a dead instance disappears", func(t *testing.T) {
		dead := c.fronts[1]
		dead.Kill()
		wantWithin(t, 20*time.Second, "the dead instance to drop off the list", func() error {
			ins, err := c.admin.Instances(ctx)
			if err != nil {
				return err
			}
			n := 0
			for _, in := range ins {
				if in.Frontend == dead.token {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("%d instances of %s listed", n, dead.token)
			}
			return nil
		})
		dead.start(t) // back for the next steps
		dead.waitLoaded(t)
		wantWithin(t, 10*time.Second, "the restarted instance to catch up", c.converged)
		c.servesNewShare(t, agentHome)
	})

	t.Run("losing the lease holder moves its leases", func(t *testing.T) {
		var holder string
		wantWithin(t, 10*time.Second, "one controller to hold every lease", func() error {
			ls, err := c.admin.Leases(ctx)
			if err != nil || len(ls) != 3 || ls[0].Holder != ls[1].Holder || ls[1].Holder != ls[2].Holder {
				return fmt.Errorf("leases %+v, %v", ls, err)
			}
			holder = ls[0].Holder
			return nil
		})
		var dead, survivor *clusterController
		for _, cc := range c.ctrls {
			if cc.Name == holder {
				dead = cc
			} else {
				survivor = cc
			}
		}
		// An agent that runs through the loss, knowing both controllers.
		running := startAgent(t, agentHome, newBackend(t).URL)
		for _, f := range c.fronts {
			wantWithin(t, 5*time.Second, "the running agent's share through "+f.Name, f.serves(running.host))
		}
		dead.Kill() // no chance to give its leases up
		killed := time.Now()
		asSurvivor := apiclient.New("http://"+survivor.api, c.adminToken)
		wantWithin(t, 10*time.Second+500*time.Millisecond, "the survivor to take every lease", func() error {
			ls, err := asSurvivor.Leases(ctx)
			if err != nil {
				return err
			}
			for _, l := range ls {
				if l.Holder != survivor.Name || time.Until(l.ExpiresAt) <= 0 {
					return fmt.Errorf("lease %s held by %s", l.Name, l.Holder)
				}
			}
			return nil
		})
		t.Logf("leases moved %s after the holder died", time.Since(killed).Round(time.Millisecond))

		// The survivor's workers run: its reconciler puts back a share's
		// service that vanished from the overlay.
		deployment, err := c.st.DeploymentID(ctx, "unused")
		if err != nil {
			t.Fatal(err)
		}
		zc, err := zitiauto.New(zitiauto.Config{ManagementURLs: []string{stack.ziti.CtrlAddress}, Username: stack.ziti.Username, Password: stack.ziti.Password, Deployment: deployment})
		if err != nil {
			t.Fatal(err)
		}
		shares := c.churn(t, acct.Token, env.ID, 2)
		if err := zc.DeleteShareService(ctx, shares[0]); err != nil {
			t.Fatal(err)
		}
		wantWithin(t, 10*time.Second, "the survivor's reconciler to recreate the service", func() error {
			tokens, err := zc.ShareTokens(ctx)
			if err != nil {
				return err
			}
			if !tokens[shares[0]] {
				return fmt.Errorf("share %s has no service", shares[0])
			}
			return nil
		})

		// The CLI, given both addresses with the dead one first, works.
		home := t.TempDir()
		if out, err := exec.Command(stack.portico, "enable", acct.Token, "--api", "http://"+dead.api+",http://"+survivor.api, "--home", home, "-d", "failover").CombinedOutput(); err != nil {
			t.Fatalf("enable with a dead controller first: %v\n%s", err, out)
		}
		if out, err := exec.Command(stack.portico, "ls", "--home", home).CombinedOutput(); err != nil {
			t.Fatalf("ls with a dead controller first: %v\n%s", err, out)
		}
		c.churn(t, acct.Token, env.ID, 6)
		wantWithin(t, 5*time.Second, "convergence with one controller", c.converged)
		c.servesNewShare(t, agentHome)
		// The running agent kept serving, and deletes its share through the survivor.
		serveAll(t, c.fronts, []string{running.host}, 5)
		running.stop(t)
		for _, f := range c.fronts {
			wantWithin(t, 5*time.Second, "the stopped agent's share to be gone from "+f.Name, func() error {
				if code, _, err := f.get(running.host, "/"); err != nil || code != http.StatusNotFound {
					return fmt.Errorf("%d, %v", code, err)
				}
				return nil
			})
		}
		dead.start(t)
	})

	t.Run("a frontend restarted with no controller serves its cache", func(t *testing.T) {
		home := t.TempDir()
		if out, err := exec.Command(stack.portico, "enable", acct.Token, "--api", c.controllers, "--home", home).CombinedOutput(); err != nil {
			t.Fatalf("portico enable: %v\n%s", err, out)
		}
		ag := startAgent(t, home, newBackend(t).URL)
		f := c.fronts[2]
		wantWithin(t, 5*time.Second, "the share through the frontend", f.serves(ag.host))
		wantWithin(t, 5*time.Second, "the share in the instance's cache file", func() error {
			t2 := routes.NewTable()
			if ok, err := t2.Load(filepath.Join(f.dir, "cache", f.token+".json")); !ok || err != nil {
				return fmt.Errorf("no cache yet: %v", err)
			}
			if r, _ := t2.Lookup(ag.host); r == nil {
				return fmt.Errorf("the cache lacks %s", ag.host)
			}
			return nil
		})
		for _, cc := range c.ctrls {
			cc.Kill()
		}
		f.Kill()
		f.start(t)
		wantWithin(t, 20*time.Second, "the cold frontend to serve its cached route", f.serves(ag.host))
		if st, err := f.status(); err != nil || st.Connected {
			t.Fatalf("status with no controller = %+v, %v", st, err)
		}
		for _, cc := range c.ctrls {
			cc.start(t)
		}
		wantWithin(t, 30*time.Second, "the cold frontend to reconnect", func() error {
			if st, err := f.status(); err != nil || !st.Connected {
				return fmt.Errorf("status %+v, %v", st, err)
			}
			return nil
		})
		ag.stop(t)
		wantWithin(t, 5*time.Second, "the deleted share to leave every instance", c.converged)
		c.servesNewShare(t, agentHome)
	})
}
