package zitiauto

// failover.go: the controllers of an OpenZiti cluster, and how a call moves
// among them. OpenZiti's own guidance is that clients know every member
// (GET /controllers) rather than go through a load balancer; a write on a
// follower is forwarded to the leader, so any member serves any call.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/porticoproxy/portico/internal/backoff"
)

// ErrNoQuorum is what a call that must change the network returns while
// the cluster has no leader: too few of its members are up.
var ErrNoQuorum = errors.New("the OpenZiti network has no quorum: too few of its controllers are up to change anything")

// member is one controller of the cluster.
type member struct {
	base string // management API root, without a trailing slash
	ctrl string // scheme://host, where the well-known CAs are served

	authMu sync.Mutex
	token  string // legacy API sessions are per member
}

func newMember(raw string) (*member, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("parsing management url: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("management url %q: want https://host:port", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, managementPath)
	if u.Path != "" {
		return nil, fmt.Errorf("management url %q: unexpected path %q", raw, u.Path)
	}
	return &member{base: u.String() + managementPath, ctrl: u.String()}, nil
}

// indexOf returns the index of the member with the address ctrl, or -1;
// members is locked or not yet shared.
func (c *Client) indexOf(ctrl string) int {
	return slices.IndexFunc(c.members, func(m *member) bool { return m.ctrl == ctrl })
}

// snapshot returns the members, the preferred one first.
func (c *Client) snapshot() []*member {
	c.membersMu.Lock()
	defer c.membersMu.Unlock()
	out := make([]*member, 0, len(c.members))
	for i := range c.members {
		out = append(out, c.members[(c.preferred+i)%len(c.members)])
	}
	return out
}

// rediscover makes the next call list the members and find the leader.
func (c *Client) rediscover() {
	c.membersMu.Lock()
	c.discovered = false
	c.membersMu.Unlock()
}

// prefer makes m the member calls try first.
func (c *Client) prefer(m *member) {
	c.membersMu.Lock()
	defer c.membersMu.Unlock()
	for i, x := range c.members {
		if x == m {
			c.preferred = i
		}
	}
}

// discover learns the cluster's members from the member that last
// answered, and prefers the leader: a follower forwards every write to the
// leader and then waits to apply it itself, which made creating a share
// 9 times slower through a follower than through the leader (bench/README).
// Until a member answers the list, each call asks again; failover asks
// again after it moved (the leader may be gone). A network of one
// controller lists only itself.
func (c *Client) discover(ctx context.Context, hc *http.Client) {
	c.membersMu.Lock()
	done := c.discovered
	c.membersMu.Unlock()
	if done {
		return
	}
	var ctrls struct {
		Data []struct {
			ID           string `json:"id"`
			APIAddresses map[string][]struct {
				URL string `json:"url"`
			} `json:"apiAddresses"`
		} `json:"data"`
	}
	m := c.snapshot()[0]
	if err := c.callMember(ctx, hc, m, http.MethodGet, "controllers?limit=100", nil, &ctrls); err != nil {
		return
	}
	var cluster struct {
		Data []struct {
			ID     string `json:"id"`
			Leader bool   `json:"leader"`
		} `json:"data"`
	}
	leader := ""
	if c.callURL(ctx, hc, m, m.ctrl+"/fabric/v1/cluster/list-members", http.MethodGet, nil, &cluster) == nil {
		for _, x := range cluster.Data {
			if x.Leader {
				leader = x.ID
			}
		}
	}
	c.membersMu.Lock()
	defer c.membersMu.Unlock()
	c.discovered = true
	for _, ctrl := range ctrls.Data {
		for _, a := range ctrl.APIAddresses["edge-management"] {
			n, err := newMember(a.URL)
			if err != nil {
				continue
			}
			i := c.indexOf(n.ctrl)
			if i < 0 {
				c.members, i = append(c.members, n), len(c.members)
			}
			if ctrl.ID == leader {
				c.preferred = i
			}
		}
	}
}

// failover runs do on the members, the preferred first, until one answers
// with what is not the fault of that member or of the cluster's state:
// that answer, good or bad, is the call's. A member that is down, hangs or
// answers 5xx makes do run on the next; after every member failed, or
// while the cluster elects a leader, it waits (backoff) and goes round
// again, for at most the client's failover bound.
func (c *Client) failover(ctx context.Context, method string, do func(*member) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.failoverFor)
	defer cancel()
	// An election takes about 4 s: waits of at most a second find the new
	// leader soon after it is there.
	b := backoff.Backoff{Cap: time.Second}
	for {
		var errs []error
		members := c.snapshot()
		first := members[0]
		for _, m := range members {
			err := do(m)
			if !retryable(method, err) {
				if err == nil && m != first {
					c.prefer(m)
					c.rediscover() // find the leader again
				}
				return err
			}
			errs = append(errs, fmt.Errorf("%s: %w", m.ctrl, err))
			if ctx.Err() != nil {
				break
			}
		}
		err := errors.Join(errs...)
		if noQuorum(err) {
			err = fmt.Errorf("%w (%v)", ErrNoQuorum, err)
		}
		if !backoff.Sleep(ctx, b.Next()) {
			return fmt.Errorf("no OpenZiti controller answered within %s: %w", c.failoverFor, err)
		}
	}
}

// retryable reports whether err says the member could not serve the call,
// so that another member (or the same, once the cluster has a leader) may:
// it did not answer, or answered 503. Another 5xx fails a create (POST),
// which the member may have carried out in part. A create that may have
// reached a member before it died is tried again: every object Portico
// makes has a unique name, so one made twice fails the second time rather
// than existing twice.
func retryable(method string, err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusServiceUnavailable || ae.Status >= 500 && (method != http.MethodPost || leaderGone(ae))
	}
	var netErr net.Error // *url.Error, for anything the HTTP client met
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)
}

// leaderGone reports a write that a follower could not forward because the
// leader it knows of is gone and no new one is elected yet: OpenZiti v1.6.0
// answers 500 UNHANDLED "error dialing peer" then, having sent nothing
// (controller/raft/raft.go, dispatch, and raft/mesh GetOrConnectPeer);
// CLUSTER_NO_LEADER would be the better answer.
func leaderGone(ae *APIError) bool {
	return ae.Status == http.StatusInternalServerError && strings.Contains(ae.Message, "error dialing peer")
}

func noQuorum(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Code == "CLUSTER_NO_LEADER" || leaderGone(ae))
}
