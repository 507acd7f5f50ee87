package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/testenv"
)

// The tests here run several processes on one OpenZiti identity: frontend
// instances of one frontend record, and agents and accessors of one
// environment. On a router without the openziti/ziti#3072 fix, the process
// that connects last displaces the others' API sessions, and their dials and
// binds fail until they restart.

// refused is what a process logs when the overlay refused its API session
// and it re-authenticated (zitiident). That recovers, but each time closes
// every overlay connection of the process, so on a fixed router it must
// never happen between processes that merely share an identity.
const refused = "the overlay refused this process's session"

// unfixed is in the warning a process logs when the controller reports a
// router without the fix for that.
const unfixed = "openziti/ziti#3072"

// wantSessionsKept fails the test if any of the outputs says that the overlay
// refused a process's session, or warns of a router that would.
func wantSessionsKept(t *testing.T, outputs map[string]string) {
	t.Helper()
	for name, out := range outputs {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, refused) || strings.Contains(line, unfixed) {
				t.Errorf("processes of one identity disturb each other: %s logged\n%s", name, line)
				break
			}
		}
	}
}

// outputsOf collects what agents printed, for wantSessionsKept.
func outputsOf(outputs map[string]string, agents ...*agent) map[string]string {
	for _, a := range agents {
		outputs[strings.Join(a.cmd.Args, " ")] = a.out.String()
	}
	return outputs
}

// sharedFrontend creates a frontend record on the test namespace and returns
// two instances of it, unstarted, that share its token and identity file.
func sharedFrontend(t *testing.T) [2]*clusterFrontend {
	t.Helper()
	dir := t.TempDir()
	// The record outlives the test (frontends cannot be deleted); later
	// shares print its URL too, with the same host.
	fe, idFile := newFrontendRecord(t, stack.admin, dir, "shared-identity", "http://{host}", namespace)
	var fs [2]*clusterFrontend
	for i := range fs {
		fs[i] = newFrontendProc(t, dir, fmt.Sprintf("shared-%c", 'a'+i), []string{stack.ctrl.GRPCAddr()}, fe, idFile, testenv.FreeAddr())
		t.Cleanup(fs[i].Kill)
	}
	return fs
}

// serveAll checks that every host answers 200 through every instance n times
// in a row, each request on a new client connection.
func serveAll(t *testing.T, fronts []*clusterFrontend, hosts []string, n int) {
	t.Helper()
	for _, f := range fronts {
		for _, host := range hosts {
			for i := range n {
				if err := f.serves(host)(); err != nil {
					t.Fatalf("request %d of %d for %s: %v\n%s", i+1, n, host, err, f.LogTail())
				}
			}
		}
	}
}

func TestInstancesAndAgentsSharingAnIdentityAllServe(t *testing.T) {
	fs := sharedFrontend(t)
	a, b := fs[0], fs[1]
	fronts := fs[:]
	_, home := account(t, "sharedid")

	// A serves a share and has dialed it before B connects: on an unfixed
	// router, A's dials fail from the moment B connects.
	a.start(t)
	a.waitLoaded(t)
	first := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 10*time.Second, "the first share through "+a.Name, a.serves(first.host))
	b.start(t)
	b.waitLoaded(t)
	wantWithin(t, 10*time.Second, "the first share through "+b.Name, b.serves(first.host))

	// A second agent of the same environment, then a share created after
	// all four processes are up.
	second := startAgent(t, home, newBackend(t).URL)
	later := startAgent(t, home, newBackend(t).URL)
	hosts := []string{first.host, second.host, later.host}
	for _, f := range fronts {
		for _, h := range hosts {
			wantWithin(t, 5*time.Second, h+" through "+f.Name, f.serves(h))
		}
	}
	serveAll(t, fronts, hosts, 50)

	// Without their idle connections, every request dials the overlay anew.
	for _, f := range fronts {
		f.closeIdleConns(t)
	}
	serveAll(t, fronts, hosts, 50)

	// A rolling restart: A goes while B serves, then a new share reaches both.
	a.Kill()
	serveAll(t, []*clusterFrontend{b}, hosts, 10)
	a.start(t)
	a.waitLoaded(t)
	afterRestart := startAgent(t, home, newBackend(t).URL)
	hosts = append(hosts, afterRestart.host)
	for _, f := range fronts {
		wantWithin(t, 5*time.Second, afterRestart.host+" through "+f.Name, f.serves(afterRestart.host))
	}
	serveAll(t, fronts, hosts, 20)
	for _, f := range fronts {
		f.closeIdleConns(t)
	}
	serveAll(t, fronts, hosts, 20)

	logs := map[string]string{}
	for _, f := range fronts {
		b, _ := os.ReadFile(f.Log)
		logs[f.Name] = string(b)
	}
	wantSessionsKept(t, outputsOf(logs, first, second, later, afterRestart))
}

func TestTenAgentsOfOneEnvironmentStartedAtOnce(t *testing.T) {
	_, home := account(t, "tenagents")
	backend := newBackend(t)
	agents := make([]*agent, 10)
	urls := make([]<-chan printed, 10)
	for i := range agents {
		agents[i], urls[i] = launchCLI(t, home, "Public URL: ", "share", "public", backend.URL)
	}
	hosts := make([]string, len(agents))
	for i, a := range agents {
		var p printed
		select {
		case p = <-urls[i]:
		case err := <-a.done:
			t.Fatalf("agent %d exited early: %v\n%s", i, err, a.out)
		case <-time.After(60 * time.Second):
			t.Fatalf("agent %d printed no public URL within 60 s:\n%s", i, a.out)
		}
		u, err := url.Parse(p.text)
		if err != nil {
			t.Fatalf("agent %d printed a bad URL %q", i, p.text)
		}
		hosts[i] = u.Hostname()
		// The URL is printed once the overlay lists the agent's terminator,
		// so the share answers at once; 5 s leaves room for the frontend's
		// table to take the share on a loaded machine.
		wantWithin(t, 5*time.Second-time.Since(p.at), fmt.Sprintf("agent %d's share %s, 5 s after its URL", i, hosts[i]), wantStatus(hosts[i], 200))
	}
	check := func(when string) {
		for i, host := range hosts {
			for range 10 {
				if code, body, err := get(host, "/"); err != nil || code != 200 {
					t.Fatalf("%s, agent %d's share %s: %d %q %v\n%s", when, i, host, code, body, err, agents[i].out)
				}
			}
		}
	}
	check("with the frontend's idle connections")
	if err := loadCaddy(); err != nil { // a new transport: every request dials anew
		t.Fatal(err)
	}
	check("on new overlay dials")
	wantSessionsKept(t, outputsOf(map[string]string{}, agents...))
}

func TestTwoAccessorsOfOneEnvironmentBothCarryTraffic(t *testing.T) {
	_, owner := account(t, "twoacc-owner")
	share := startPrivateShare(t, owner, newBackend(t).URL)
	_, peer := account(t, "twoacc-peer")
	one := startAccessor(t, peer, share.token)
	two := startAccessor(t, peer, share.token)
	for round := range 2 {
		for _, acc := range []*accessor{one, two, one, two} {
			for range 10 {
				code, body, err := getVia(acc.addr, "/")
				if err != nil || code != 200 || body != "hello from the backend" {
					t.Fatalf("round %d through the accessor on %s: %d %q %v\n%s", round, acc.addr, code, body, err, acc.out)
				}
			}
		}
	}
	two.stop(t)
	for range 10 {
		if code, body, err := getVia(one.addr, "/"); err != nil || code != 200 {
			t.Fatalf("through the remaining accessor: %d %q %v\n%s", code, body, err, one.out)
		}
	}
	wantSessionsKept(t, outputsOf(map[string]string{}, share, one.agent, two.agent))
}

// terminators lists the ids of the terminators of a share's service.
func terminators(t *testing.T, share string) []string {
	t.Helper()
	b, err := stack.ziti.Management(context.Background(), http.MethodGet,
		"/terminators?filter="+url.QueryEscape(`service.name = "`+share+`"`), "")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("terminators of %s: %v: %s", share, err, b)
	}
	ids := make([]string, len(out.Data))
	for i, d := range out.Data {
		ids[i] = d.ID
	}
	return ids
}

// An agent whose terminator the overlay dropped binds again instead of
// keeping a listener that nothing reaches. The share is reserved, so that
// the reaper, which takes an unbound agent out of the rotation after 8 s
// here, is in the race too: the agent must join again once bound.
func TestAgentBindsAgainWhenItsTerminatorIsRemoved(t *testing.T) {
	ctx := context.Background()
	acct, home := account(t, "lostterm")
	name := uniqueName("lost")
	host := name + "." + namespace
	mustCLI(t, home, "reserve", name)
	sh, err := apiclient.New(stack.apiURL, acct.Token).ShareByName(ctx, name, "")
	if err != nil {
		t.Fatal(err)
	}
	ag := startCLIAgent(t, home, "share", "reserved", name, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the route to appear", wantStatus(host, http.StatusOK))
	ids := terminators(t, sh.Token)
	if len(ids) != 1 {
		t.Fatalf("share %s has terminators %v, want one", sh.Token, ids)
	}
	if _, err := stack.ziti.Management(ctx, http.MethodDelete, "/terminators/"+ids[0], ""); err != nil {
		t.Fatal(err)
	}
	// A fresh frontend transport must dial anew: with no terminator, the share is offline.
	if err := loadCaddy(); err != nil {
		t.Fatal(err)
	}
	wantWithin(t, 3*time.Second, "the share without its terminator to be offline", wantStatus(host, http.StatusBadGateway))
	wantWithin(t, 20*time.Second, "the agent to bind again", func() error {
		if ids := terminators(t, sh.Token); len(ids) != 1 {
			return fmt.Errorf("terminators %v", ids)
		}
		return nil
	})
	// Past reap_after, the reaper has had its chance to drop the agent from
	// the rotation; the agent must be back in it and serving.
	time.Sleep(9 * time.Second)
	wantWithin(t, 5*time.Second, "the share to answer again", wantStatus(host, http.StatusOK))
	for _, want := range []string{"the overlay lost this agent's terminator", "bound the share again"} {
		if !strings.Contains(ag.out.String(), want) {
			t.Errorf("the agent did not log %q:\n%s", want, ag.out)
		}
	}
	ag.stop(t)
}
