package caddymodule

// permission.go holds the on-demand TLS permission that allows certificates
// only for live mapped names.

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/porticoproxy/portico/internal/routes"
)

func init() {
	caddy.RegisterModule(Permission{})
}

// Permission allows an on-demand certificate only for a host that is a live
// mapped name on this frontend. The check is an in-memory lookup.
type Permission struct {
	table *routes.Table
}

// CaddyModule returns the Caddy module information.
func (Permission) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.permission.portico",
		New: func() caddy.Module { return new(Permission) },
	}
}

// Provision finds the portico app.
func (p *Permission) Provision(ctx caddy.Context) error {
	app, err := portico(ctx)
	if err != nil {
		return err
	}
	p.table = app.rt.table
	return nil
}

// CertificateAllowed allows name if it is mapped to a share.
func (p *Permission) CertificateAllowed(_ context.Context, name string) error {
	if route, _ := p.table.Lookup(routes.NormalizeHost(name)); route == nil {
		return fmt.Errorf("%w: %s is not a live share", caddytls.ErrPermissionDenied, name)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Permission)(nil)
	_ caddytls.OnDemandPermission = (*Permission)(nil)
)
