package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/testenv"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// haStack is Portico on an OpenZiti cluster of three voters: a controller
// that is told of one member and learns the others, two frontends and the
// agents of one account.
type haStack struct {
	zc     *testenv.ZitiCluster
	ctrl   *controller.Controller
	admin  *apiclient.Client
	user   *apiclient.Client
	home   string // the account's portico home, enabled
	dir    string
	fronts []*clusterFrontend
	fe     apitypes.Frontend
	idFile string
	// overlay is Portico's OpenZiti automation, as the controller's, for
	// drift the test makes.
	overlay *zitiauto.Client
}

const haNamespace = "ha.localhost"

// routerRetry bounds how long an agent may take to bind again on a returned
// member's router: the router's own retry of a terminator it took over
// before the member knew its leader (see restore in the test).
const routerRetry = 240 * time.Second

func startHAStack(t *testing.T) *haStack {
	t.Helper()
	ctx := context.Background()
	h := &haStack{dir: t.TempDir()}
	zc, err := testenv.StartZitiCluster(ctx, filepath.Join(h.dir, "ziti"), 3)
	if err != nil {
		t.Fatal(err)
	}
	h.zc = zc
	t.Cleanup(func() {
		// A member that the test did not kill must not have gone.
		if err := zc.Exited(); err != nil {
			t.Error(err)
		}
		zc.Stop()
	})
	dsn := "sqlite:" + filepath.Join(h.dir, "portico.db")
	h.ctrl = ownController(t, controller.Config{
		Store: dsn,
		Ziti:  controller.ZitiConfig{ManagementURL: zc.Members[0].CtrlAddress, Username: "admin", Password: "admin"},
		// The workers run often, so that they run while members are down:
		// a member's loss must be neither drift nor a gone agent.
		Workers: controller.WorkersConfig{ReconcileEvery: 2 * time.Second, ReapEvery: time.Second, ReapAfter: 20 * time.Second},
	})
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deployment, err := st.DeploymentID(ctx, "unused")
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, z := range zc.Members {
		urls = append(urls, z.CtrlAddress)
	}
	if h.overlay, err = zitiauto.New(zitiauto.Config{ManagementURLs: urls, Username: "admin", Password: "admin", Deployment: deployment}); err != nil {
		t.Fatal(err)
	}
	apiURL := "http://" + h.ctrl.APIAddr()
	h.admin = apiclient.New(apiURL, stack.adminToken)
	if _, err := h.admin.CreateNamespace(ctx, haNamespace, true); err != nil {
		t.Fatal(err)
	}
	h.fe, h.idFile = newFrontendRecord(t, h.admin, h.dir, "ha", "http://{host}", haNamespace)
	for i := range 2 {
		f := newFrontendProc(t, h.dir, fmt.Sprintf("ha-frontend-%d", i), []string{h.ctrl.GRPCAddr()}, h.fe, h.idFile, testenv.FreeAddr())
		f.start(t)
		t.Cleanup(f.Kill)
		h.fronts = append(h.fronts, f)
	}
	for _, f := range h.fronts {
		f.waitLoaded(t)
	}
	acct, err := h.admin.CreateAccount(ctx, "ha@e2e.localhost")
	if err != nil {
		t.Fatal(err)
	}
	h.user = apiclient.New(apiURL, acct.Token)
	h.home = t.TempDir()
	if out, err := exec.Command(stack.portico, "enable", acct.Token, "--api", apiURL, "--home", h.home).CombinedOutput(); err != nil {
		t.Fatalf("portico enable: %v\n%s", err, out)
	}
	return h
}

// servedEverywhere waits until host answers 200 through every frontend.
func (h *haStack) servedEverywhere(t *testing.T, within time.Duration, host string) {
	t.Helper()
	for _, f := range h.fronts {
		wantWithin(t, within, host+" through "+f.Name, f.serves(host))
	}
}

// waitTerminators waits until a share's agent holds terminators on at
// least n routers, and returns the members whose routers hold them. A bind
// returns with its first terminator; the others follow.
func (h *haStack) waitTerminators(t *testing.T, within time.Duration, token string, n int) []*testenv.Ziti {
	t.Helper()
	var on []*testenv.Ziti
	wantWithin(t, within, "the terminators of "+token+" on "+fmt.Sprint(n)+" routers", h.holding(token, n, &on))
	return on
}

// onRouters checks that a share's agent holds terminators on n routers.
func (h *haStack) onRouters(token string, n int) func() error {
	var on []*testenv.Ziti
	return h.holding(token, n, &on)
}

// holding checks that a share's agent holds terminators on at least n
// routers, and sets on to the members whose routers hold them.
func (h *haStack) holding(token string, n int, on *[]*testenv.Ziti) func() error {
	return func() error {
		b, err := h.running().Management(context.Background(), http.MethodGet,
			"/terminators?filter="+url.QueryEscape(fmt.Sprintf("service.name=%q", token)), "")
		if err != nil {
			return err
		}
		var out struct {
			Data []struct {
				Router struct {
					Name string `json:"name"`
				} `json:"router"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		*on = (*on)[:0]
		for _, z := range h.zc.Members {
			for _, d := range out.Data {
				if d.Router.Name == "router-"+z.ID {
					*on = append(*on, z)
					break
				}
			}
		}
		if len(*on) < n {
			return fmt.Errorf("terminators on %d routers", len(*on))
		}
		return nil
	}
}

// waitFor retries check until it returns nil or d passes, and returns its
// last error.
func waitFor(d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// serviceID returns the id of a share's service on the overlay.
func (h *haStack) serviceID(t *testing.T, token string) string {
	t.Helper()
	b, err := h.running().Management(context.Background(), http.MethodGet,
		"/services?filter="+url.QueryEscape(fmt.Sprintf("name=%q", token)), "")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Data) != 1 {
		t.Fatalf("the service of share %s: %v, %s", token, err, b)
	}
	return out.Data[0].ID
}

// sessionOn returns a context of the identity in idFile, logged in on
// member z: the identity lists only z, and the SDK learns the others from it
// after the login, as it does in production.
func sessionOn(t *testing.T, idFile string, z *testenv.Ziti) *ziti.ContextImpl {
	t.Helper()
	b, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["ztAPI"], cfg["ztAPIs"] = z.ClientURL, []string{z.ClientURL}
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	zc, err := zitiident.NewContextFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zc.Close)
	if err := zc.Authenticate(); err != nil {
		t.Fatalf("logging in on member %s: %v", z.ID, err)
	}
	return zc.(*ziti.ContextImpl)
}

// signedWith returns the id of the key that signed a context's session.
func signedWith(t *testing.T, zc *ziti.ContextImpl) string {
	t.Helper()
	header, _, _ := strings.Cut(string(zc.CtrlClt.GetCurrentApiSession().GetToken()), ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	var h struct {
		Kid string `json:"kid"`
	}
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil || h.Kid == "" {
		t.Fatalf("the session token's header %q: %v", b, err)
	}
	return h.Kid
}

// listedKey returns the id of the key that member m verifies the sessions
// of member id with: the SHA-1 of the certificate it lists for it (the
// controller's own key ids are made so).
func listedKey(t *testing.T, m *testenv.Ziti, id string) string {
	t.Helper()
	b, err := m.Management(context.Background(), http.MethodGet, "/controllers", "")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct {
			Name    string `json:"name"`
			CertPem string `json:"certPem"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range out.Data {
		if block, _ := pem.Decode([]byte(c.CertPem)); c.Name == id && block != nil {
			return fmt.Sprintf("%x", sha1.Sum(block.Bytes))
		}
	}
	t.Fatalf("member %s lists no certificate for member %s: %s", m.ID, id, b)
	return ""
}

// logMatching returns the last n lines of a member's log that contain s.
func logMatching(z *testenv.Ziti, s string, n int) string {
	var out []string
	for _, l := range strings.Split(z.LogTail(math.MaxInt), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// running returns a member that runs.
func (h *haStack) running() *testenv.Ziti {
	for _, z := range h.zc.Members {
		if z.Running() {
			return z
		}
	}
	return h.zc.Members[0]
}

// traffic sends a steady stream of requests, one every 20 ms (50/s) spread
// over every frontend and host, and records when each started and whether
// it succeeded.
type traffic struct {
	mu      sync.Mutex
	results []result
	stop    chan struct{}
	done    chan struct{}
}

type result struct {
	at  time.Time
	ok  bool
	why string // what a failed request got
}

func (h *haStack) startTraffic(hosts ...string) *traffic {
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			case <-tick.C:
			}
			f, host := h.fronts[i%len(h.fronts)], hosts[(i/len(h.fronts))%len(hosts)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := time.Now()
				code, body, err := f.get(host, "/")
				r := result{at: at, ok: err == nil && code == 200}
				switch {
				case err != nil:
					r.why = err.Error()
				case !r.ok:
					r.why = fmt.Sprintf("%d %.80s", code, body)
				}
				tr.mu.Lock()
				tr.results = append(tr.results, r)
				tr.mu.Unlock()
			}()
		}
	}()
	return tr
}

// end stops the traffic and reports, of the requests started after from:
// how many there were, how many failed, the longest stretch without a
// success, how many of those started after settled failed, and what the
// failed ones got, with how many got it.
func (tr *traffic) end(from, settled time.Time) (n, failed int, gap time.Duration, lateFailures int, why map[string]int) {
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	last := from
	why = map[string]int{}
	for _, r := range tr.results {
		if r.at.Before(from) {
			continue
		}
		n++
		if !r.ok {
			why[r.why]++
		}
		switch {
		case r.ok:
			gap = max(gap, r.at.Sub(last))
			last = r.at
		case r.at.After(settled):
			lateFailures++
			failed++
		default:
			failed++
		}
	}
	return n, failed, gap, lateFailures, why
}

// memberOf returns the cluster member whose address the identity file
// names first (ztAPI).
func (h *haStack) memberOf(t *testing.T, identityFile string) *testenv.Ziti {
	t.Helper()
	b, err := os.ReadFile(identityFile)
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		ZtAPI  string   `json:"ztAPI"`
		ZtAPIs []string `json:"ztAPIs"`
	}
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatal(err)
	}
	// A member whose addresses the others had not yet learnt when the
	// identity logged in is missing until a later login; more than one is
	// what lets the process start while one is down.
	if len(id.ZtAPIs) < 2 {
		t.Errorf("identity %s lists controllers %v, want the cluster's members", filepath.Base(identityFile), id.ZtAPIs)
	}
	for _, z := range h.zc.Members {
		if strings.HasPrefix(id.ZtAPI, z.CtrlAddress) {
			return z
		}
	}
	t.Fatalf("identity %s names %s, no member of the cluster", filepath.Base(identityFile), id.ZtAPI)
	return nil
}

// restart starts a killed member again and waits for it to rejoin the
// members that run.
func (h *haStack) restart(t *testing.T, z *testenv.Ziti) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := z.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, m := range h.zc.Members {
		if m.Running() {
			running++
		}
	}
	if err := h.zc.WaitVoters(ctx, running); err != nil {
		t.Fatalf("%v; %s's log ends:\n%s", err, z.ID, z.LogTail(30))
	}
}

// TestOpenZitiClusterLosesMembers: Portico on a three-voter OpenZiti
// cluster keeps its shares answering and can still make new ones through
// the loss of the leader or of a follower; a process starts while the
// member its identity names is down; with two members down, a new share is
// refused with a 503 that says the overlay has no quorum, the others keep
// answering, and it all recovers when a member returns.
func TestOpenZitiClusterLosesMembers(t *testing.T) {
	h := startHAStack(t)
	backend := newBackend(t)
	a := startAgent(t, h.home, backend.URL)
	b := startAgent(t, h.home, backend.URL)
	h.servedEverywhere(t, 15*time.Second, a.host)
	h.servedEverywhere(t, 15*time.Second, b.host)
	// An agent holds a terminator on every router (listenTerminators).
	h.waitTerminators(t, 60*time.Second, a.token, 3)
	h.waitTerminators(t, 60*time.Second, b.token, 3)
	services := map[string]string{a.token: h.serviceID(t, a.token), b.token: h.serviceID(t, b.token)}

	// Losing a member: the shares keep answering (requests on circuits
	// through its router may fail; from 5 s after the loss none may), and
	// a new share answers within 15 s.
	lose := func(t *testing.T, z *testenv.Ziti) {
		tr := h.startTraffic(a.host, b.host)
		time.Sleep(time.Second)
		killed := time.Now()
		z.Kill()
		c := startAgent(t, h.home, backend.URL)
		printed := time.Since(killed)
		h.servedEverywhere(t, max(time.Second, 15*time.Second-printed), c.host)
		created := time.Since(killed)
		time.Sleep(max(0, 10*time.Second-time.Since(killed)))
		n, failed, gap, late, why := tr.end(killed, killed.Add(5*time.Second))
		t.Logf("member %s killed: %d requests in the next %s at 50/s, %d failed, longest gap %s, %d failed after 5 s; a new share printed its URL %s and answered %s after the kill; failures: %v",
			z.ID, n, time.Since(killed).Round(time.Millisecond), failed, gap.Round(time.Millisecond), late, printed.Round(time.Millisecond), created.Round(time.Millisecond), why)
		if created > 15*time.Second {
			t.Errorf("the new share answered %s after the kill, want within 15 s", created.Round(time.Millisecond))
		}
		if late > 0 {
			t.Errorf("%d requests started more than 5 s after the kill failed", late)
		}
		if n < 200 {
			t.Errorf("only %d requests ran", n)
		}
		// Every request above may have ridden a circuit made before the
		// loss: drop the frontends' idle overlay connections and ask again.
		for _, f := range h.fronts {
			f.closeIdleConns(t)
		}
		for _, host := range []string{a.host, b.host, c.host} {
			h.servedEverywhere(t, 5*time.Second, host)
		}

		// The reconciler works while the member is down: a share whose
		// service vanished gets it back, and its agent binds to it.
		if err := h.overlay.DeleteShareService(context.Background(), c.token); err != nil {
			t.Fatal(err)
		}
		h.servedEverywhere(t, 30*time.Second, c.host)
	}

	// The member comes back: it rejoins, and the agents that lost its
	// router bind on it again.
	restore := func(t *testing.T, z *testenv.Ziti) {
		h.restart(t, z)
		returned := time.Now()
		// Within seconds as a rule (the SDK patch), but the bound allows for
		// the router's own retry. A member that has just returned answers
		// its router's terminator requests with CLUSTER_NO_LEADER until it
		// knows the leader; the SDK binds again at once, and a v1.6.0
		// router lets the new bind take over the terminator still being
		// made and tells the SDK it is bound, without asking the controller
		// again (findMatchingEvent in xgress_edge/hosted.go). Only its retry
		// scan, every minute for terminators older than 2 minutes, makes
		// it: about 3 minutes. (3 of 28 returns on 2026-12-03 took over
		// 150 s; the router's log of the one it printed showed this.)
		for _, ag := range []*agent{a, b} {
			if err := waitFor(routerRetry, h.onRouters(ag.token, 3)); err != nil {
				t.Fatalf("share %s, %s after member %s rejoined: %v; its agent's output:\n%s\nwhat %s's edge router logged:\n%s",
					ag.token, routerRetry, z.ID, err, ag.out, z.ID, logMatching(z, "xgress_edge", 80))
			}
		}
		t.Logf("the agents were bound on member %s's router again %s after it rejoined", z.ID, time.Since(returned).Round(time.Millisecond))
	}

	t.Run("the leader is killed", func(t *testing.T) {
		leader, err := h.zc.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		lose(t, leader)
		restore(t, leader)
	})

	t.Run("a process starts while the member its identity names is down", func(t *testing.T) {
		z := h.memberOf(t, h.idFile)
		z.Kill()
		f := newFrontendProc(t, h.dir, "ha-frontend-late", []string{h.ctrl.GRPCAddr()}, h.fe, h.idFile, testenv.FreeAddr())
		f.start(t)
		t.Cleanup(f.Kill)
		f.waitLoaded(t)
		wantWithin(t, 20*time.Second, a.host+" through the late frontend", f.serves(a.host))
		// The agent's identity names a member too: kill that one if it is
		// another (one down at a time).
		agentID := filepath.Join(h.home, "identity.json")
		if m := h.memberOf(t, agentID); m != z {
			h.restart(t, z)
			z = m
			z.Kill()
		}
		d := startAgent(t, h.home, backend.URL)
		h.servedEverywhere(t, 15*time.Second, d.host)
		h.restart(t, z)
	})

	t.Run("a follower is killed", func(t *testing.T) {
		leader, err := h.zc.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		follower := h.zc.Members[0]
		if follower == leader {
			follower = h.zc.Members[1]
		}
		lose(t, follower)
		restore(t, follower)
	})

	t.Run("two members are down", func(t *testing.T) {
		env, err := h.user.CreateEnvironment(context.Background(), "ha", "quorum")
		if err != nil {
			t.Fatal(err)
		}
		// An agent that binds while every member is up holds a terminator on
		// each router, so it rides out the loss of two. (One that lost a
		// router keeps one fewer until the SDK next refreshes its session.)
		e := startAgent(t, h.home, backend.URL)
		h.servedEverywhere(t, 15*time.Second, e.host)
		// The member left up is one whose router holds a terminator of e.
		keep := h.waitTerminators(t, 60*time.Second, e.token, 1)[0]
		var down []*testenv.Ziti
		for _, z := range h.zc.Members {
			if z != keep {
				down = append(down, z)
			}
		}
		// Every member accepts the sessions every other member issued: each
		// lists, for each, the key it signs with. (v1.6.0 listed a member's
		// TLS client certificate when another member had accepted its
		// connection, which restarts bring about: scripts/ziti-build.sh.)
		for _, z := range h.zc.Members {
			kid := signedWith(t, sessionOn(t, h.idFile, z))
			for _, m := range h.zc.Members {
				if got := listedKey(t, m, z.ID); got != kid {
					t.Errorf("member %s lists key %s for member %s, which signs its sessions with %s", m.ID, got, z.ID, kid)
				}
			}
		}
		issued := sessionOn(t, h.idFile, down[0])
		for _, z := range down {
			z.Kill()
		}
		_, err = h.user.CreateShare(context.Background(), apitypes.ShareRequest{EnvironmentID: env.ID, Target: "http://localhost:1"})
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Body.Code != "overlay_no_quorum" || !strings.Contains(ae.Body.Message, "no quorum") {
			t.Errorf("creating a share without quorum: %v, want a 503 that says the overlay has no quorum", err)
		}
		// Through each frontend, on the connections it had and then on new
		// dials once its idle connections are gone.
		for _, f := range h.fronts {
			if err := f.serves(e.host)(); err != nil {
				t.Errorf("an existing share without quorum, through %s: %v", f.Name, err)
			}
			f.closeIdleConns(t)
			if err := f.serves(e.host)(); err != nil {
				t.Errorf("an existing share without quorum, through %s on a new connection: %v", f.Name, err)
			}
		}
		// Every client refreshes its OIDC session in time (the SDK does so
		// between 1/2 and 5/6 of its life) on whichever member it reaches,
		// and logs in again if that fails, which closes its router
		// connections and with them every terminator; without quorum none
		// can be made again. A session that a member now down issued
		// refreshes on the one left up:
		if err, _ := issued.RefreshApiSession(); err != nil {
			t.Errorf("refreshing, without quorum, a session that member %s issued: %v", down[0].ID, err)
		}
		// With one member back the cluster has quorum: shares can be made
		// again, and once both are back an agent binds and serves.
		h.restart(t, down[0])
		wantWithin(t, 30*time.Second, "a share to be made again", func() error {
			_, err := h.user.CreateShare(context.Background(), apitypes.ShareRequest{EnvironmentID: env.ID, Target: "http://localhost:1"})
			return err
		})
		h.restart(t, down[1])
		c := startAgent(t, h.home, backend.URL)
		h.servedEverywhere(t, 15*time.Second, c.host)
	})

	// Through all of it, the workers took no member's loss for drift or for
	// a gone agent: the first shares kept their services and still serve.
	for token, id := range services {
		if now := h.serviceID(t, token); now != id {
			t.Errorf("share %s's service was replaced (%s, now %s)", token, id, now)
		}
	}
	// (The same router retry bounds how long that may take.)
	h.servedEverywhere(t, routerRetry, a.host)
	h.servedEverywhere(t, routerRetry, b.host)
}
