// handler.go holds portico_share, which resolves a request's Host to a share.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/porticoproxy/portico/internal/mapping"
)

func init() {
	caddy.RegisterModule(Share{})
}

// routeVar is the request variable that carries the matched *mapping.Route
// from portico_share to the dynamic upstreams.
const routeVar = "portico.route"

var errNotLoaded = errors.New("the frontend has not loaded its mappings yet")

// Share resolves the request's Host to a live share. An unknown host is a
// 404 and a frontend that has not loaded its table yet answers 503 with
// Retry-After, both through Caddy's error handling so that handle_errors can
// style them. It sets the {portico.share} and {portico.name} placeholders.
type Share struct {
	table *mapping.Table
}

// CaddyModule returns the Caddy module information.
func (Share) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.portico_share",
		New: func() caddy.Module { return new(Share) },
	}
}

// Provision finds the portico app.
func (s *Share) Provision(ctx caddy.Context) error {
	app, err := portico(ctx)
	if err != nil {
		return err
	}
	s.table = app.rt.table
	return nil
}

func (s *Share) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	host := mapping.NormalizeHost(r.Host)
	route, loaded := s.table.Lookup(host)
	if route == nil {
		if !loaded {
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, errNotLoaded)
		}
		return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no share is served at %s", host))
	}
	caddyhttp.SetVar(r.Context(), routeVar, route)
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("portico.share", route.Share)
	repl.Set("portico.name", route.Name)

	err := next.ServeHTTP(w, r)
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode == http.StatusBadGateway {
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("share %s is offline: its agent is not connected (%w)", route.Name, he.Err))
	}
	return err
}

// portico returns the provisioned portico app.
func portico(ctx caddy.Context) (*App, error) {
	app, err := ctx.App("portico")
	if err != nil {
		return nil, fmt.Errorf("loading the portico app: %w", err)
	}
	return app.(*App), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Share)(nil)
	_ caddyhttp.MiddlewareHandler = (*Share)(nil)
)
