// transport.go holds the transport that dials shares over OpenZiti.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is Caddy's HTTP transport with its dial replaced by a dial over
// OpenZiti to the share's service, so keep-alive pools (one per share),
// WebSocket and streaming behave exactly as they do with reverse_proxy's own
// transport. The upstream's host is the share token, which is also the name
// of its Ziti service.
type Transport struct {
	reverseproxy.HTTPTransport

	rt *runtime
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.portico",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision sets up the wrapped transport and swaps in the Ziti dial.
func (t *Transport) Provision(ctx caddy.Context) error {
	app, err := portico(ctx)
	if err != nil {
		return err
	}
	t.rt = app.rt
	if t.TLS != nil {
		return errors.New("portico transport: tls is not supported; the overlay already encrypts end to end")
	}
	if len(t.Versions) == 0 {
		t.Versions = []string{"1.1"}
	}
	if err := t.HTTPTransport.Provision(ctx); err != nil {
		return fmt.Errorf("portico transport: %w", err)
	}
	t.HTTPTransport.Transport.DialContext = t.dial
	// A share is never reached through an HTTP proxy from the environment.
	t.HTTPTransport.Transport.Proxy = nil
	return nil
}

func (t *Transport) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	service, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("portico transport: bad upstream address %q: %w", addr, err)
	}
	conn, err := t.rt.dial(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("dialing share %s over openziti: %w", service, err)
	}
	return conn, nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Transport)(nil)
	_ caddy.CleanerUpper = (*Transport)(nil)
	_ http.RoundTripper  = (*Transport)(nil)
)
