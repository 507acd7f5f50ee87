package caddymodule

// selection.go holds the load-balancing policy that picks among a share's agents.

import (
	"math/rand/v2"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(AgentSelection{})
}

// AgentSelection picks one of a share's agents at random among those the
// passive health checks have not marked down, and when they have marked
// every agent down, among all that are not full. Caddy's own policies then
// refuse the request without a dial: for a share with one agent, one failed
// dial (an overlay hiccup, such as an OpenZiti controller that has just come
// back and does not yet know where the terminators are) would refuse every
// request for fail_duration, though the next dial most likely succeeds.
type AgentSelection struct{}

// CaddyModule returns the Caddy module information.
func (AgentSelection) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.selection_policies.portico_agents",
		New: func() caddy.Module { return new(AgentSelection) },
	}
}

// Select implements reverseproxy.Selector.
func (AgentSelection) Select(pool reverseproxy.UpstreamPool, r *http.Request, w http.ResponseWriter) *reverseproxy.Upstream {
	if u := (reverseproxy.RandomSelection{}).Select(pool, r, w); u != nil {
		return u
	}
	var pick *reverseproxy.Upstream
	n := 0
	for _, u := range pool { // reservoir sampling, as RandomSelection does
		if u.Full() {
			continue
		}
		n++
		if rand.IntN(n) == 0 {
			pick = u
		}
	}
	return pick
}

// Interface guards
var _ reverseproxy.Selector = (*AgentSelection)(nil)
