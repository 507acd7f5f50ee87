package testenv

// This file runs a throwaway OpenZiti controller cluster on loopback, as
// ../shared/ZITI-HA-AND-USAGE.md describes: `quickstart ha` for the first
// member, `quickstart join` for the others, all on one PKI.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ZitiCluster is an OpenZiti controller cluster of voters, each member a
// controller and its edge router in one process (killing a member kills its
// router too).
type ZitiCluster struct {
	Members []*Ziti
	bin     string
}

// StartZitiCluster starts an n-member cluster with its state under dir,
// each router with the xgress options of deploy/ziti-router-xgress.yml, and
// waits until every member is a connected voter and one leads. ctx bounds
// only the start; call Stop to end the cluster.
func StartZitiCluster(ctx context.Context, dir string, n int) (c *ZitiCluster, err error) {
	bin, err := ZitiBinary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, fmt.Errorf("choosing ports for the ziti cluster: %w", err)
	}
	cfgDir := filepath.Join(dir, "cfg")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating ziti config dir: %w", err)
	}
	c = &ZitiCluster{bin: bin}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	home := filepath.Join(dir, "home")
	for i := range n {
		z := newZiti(home, filepath.Join(dir, fmt.Sprintf("ctrl%d.log", i+1)), ports[2*i], ports[2*i+1], nil)
		z.ID = fmt.Sprintf("ctrl%d", i+1)
		z.RouterConfig = filepath.Join(home, z.ID, "router-"+z.ID+".yaml")
		// Not ZITI_ROUTER_NAME: every member would make a router of that name.
		z.env = zitiEnv(cfgDir)
		first := c.memberArgs(z, "ha")
		if i > 0 {
			first = append(c.memberArgs(z, "join"), "--cluster-member", "tls:127.0.0.1:"+strconv.Itoa(c.Members[0].CtrlPort))
		}
		z.args = first
		c.Members = append(c.Members, z)
		if err := z.start(ctx); err != nil {
			return c, fmt.Errorf("starting ziti member %s: %w", z.ID, err)
		}
	}
	// Tuned one at a time, so the cluster keeps its quorum.
	for _, z := range c.Members {
		if err := z.tuneRouter(ctx, c.memberArgs(z, "ha")); err != nil {
			return c, fmt.Errorf("tuning ziti member %s: %w", z.ID, err)
		}
	}
	if err := c.WaitVoters(ctx, n); err != nil {
		return c, err
	}
	// A client's service session lists the routers online when it is made,
	// and the SDK binds only on those until it next refreshes it, which can
	// be long: every router must be up before the cluster is.
	return c, c.waitRouters(ctx, n)
}

// waitRouters waits until n edge routers are online.
func (c *ZitiCluster) waitRouters(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, zitiReadyTimeout)
	defer cancel()
	for {
		b, err := c.Members[0].Management(ctx, http.MethodGet, "/edge-routers", "")
		online := bytes.Count(b, []byte(`"isOnline":true`)) // not a field the API filters on
		if err == nil && online >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ziti cluster: %d of %d routers online (%v): %w", online, n, err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// memberArgs is the quickstart command of a member; a member that joined is
// started again with "ha" and the same ports.
func (c *ZitiCluster) memberArgs(z *Ziti, sub string) []string {
	return z.quickstart(c.bin, sub, "--instance-id", z.ID, "--trust-domain", "portico")
}

// ClusterMember is a member as GET /fabric/v1/cluster/list-members shows it.
type ClusterMember struct {
	ID        string `json:"id"`
	Leader    bool   `json:"leader"`
	Voter     bool   `json:"voter"`
	Connected bool   `json:"connected"`
}

// State returns the cluster's members as the leader sees them: followers
// may show each other as not connected, which is normal. Without a leader
// it is what a running member sees.
func (c *ZitiCluster) State(ctx context.Context) ([]ClusterMember, error) {
	var seen []ClusterMember
	var last error
	for _, z := range c.Members {
		if !z.Running() {
			continue
		}
		// One member that hangs (a restarted one may, until it has caught
		// up) must not hold up the answer of the others.
		callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		b, err := z.Fabric(callCtx, http.MethodGet, "/cluster/list-members", "")
		cancel()
		if err != nil {
			last = err
			continue
		}
		var out struct {
			Data []ClusterMember `json:"data"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, err
		}
		for _, m := range out.Data {
			if m.Leader && m.ID == z.ID {
				return out.Data, nil
			}
		}
		seen = out.Data
	}
	if seen != nil {
		return seen, nil
	}
	return nil, fmt.Errorf("no ziti member answers: %v", last)
}

// WaitVoters waits until the running members see n connected voters and a
// leader among them.
func (c *ZitiCluster) WaitVoters(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, zitiReadyTimeout)
	defer cancel()
	for {
		ms, err := c.State(ctx)
		voters, leader := 0, false
		for _, m := range ms {
			if m.Voter && m.Connected {
				voters++
				leader = leader || m.Leader
			}
		}
		if err == nil && voters >= n && leader {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ziti cluster: %d connected voters with a leader %v (%v), want %d: %w", voters, leader, err, n, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Leader returns the member that leads the cluster now.
func (c *ZitiCluster) Leader(ctx context.Context) (*Ziti, error) {
	ms, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Leader {
			for _, z := range c.Members {
				if z.ID == m.ID {
					return z, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("the ziti cluster has no leader: %+v", ms)
}

// Stop ends every member.
func (c *ZitiCluster) Stop() {
	for _, z := range c.Members {
		z.Stop()
	}
}

// Exited reports the first member that stopped on its own (not by Stop or
// Kill), as Ziti.Exited does.
func (c *ZitiCluster) Exited() error {
	for _, z := range c.Members {
		if err := z.Exited(); err != nil {
			return fmt.Errorf("member %s: %w", z.ID, err)
		}
	}
	return nil
}

// Kill ends the member at once, as a crash would: SIGKILL to its process
// group, its router with it.
func (z *Ziti) Kill() {
	z.stopped.Store(true)
	signalGroup(z.cmd, true)
	<-z.exited
}

// Restart starts a member that Kill ended, on its ports and state, and
// waits until it runs.
func (z *Ziti) Restart(ctx context.Context) error {
	z.stopped.Store(false)
	z.stopOnce = sync.Once{}
	return z.start(ctx)
}

// Running reports whether the member's process runs.
func (z *Ziti) Running() bool {
	if z.exited == nil {
		return false
	}
	select {
	case <-z.exited:
		return false
	default:
		return true
	}
}
