package caddymodule

// upstreams.go holds the dynamic upstream source that names the matched share.

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/porticoproxy/portico/internal/routes"
)

func init() {
	caddy.RegisterModule(Upstreams{})
}

var errNoRoute = errors.New("no share matched: portico_share must run before reverse_proxy")

// Upstreams returns the upstreams of the share that portico_share matched.
// They are built once per mapping change, so this allocates nothing.
type Upstreams struct{}

// CaddyModule returns the Caddy module information.
func (Upstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.portico",
		New: func() caddy.Module { return new(Upstreams) },
	}
}

// GetUpstreams returns the matched share's upstreams.
func (Upstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	route, _ := caddyhttp.GetVar(r.Context(), routeVar).(*routes.Route)
	if route == nil {
		return nil, errNoRoute
	}
	return route.Upstreams, nil
}

// Interface guards
var _ reverseproxy.UpstreamSource = (*Upstreams)(nil)
