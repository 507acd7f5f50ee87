package caddymodule

// transport.go holds the transport that dials shares over OpenZiti.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/porticoproxy/portico/internal/routes"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is Caddy's HTTP transport with its dial replaced by a dial over
// OpenZiti to the share's service, so keep-alive pools (one per share),
// WebSocket and streaming behave exactly as they do with reverse_proxy's own
// transport. The upstream's host is the share token, which is also the name
// of its Ziti service, optionally after "<agent>@" to reach one agent.
type Transport struct {
	reverseproxy.HTTPTransport

	rt *frontendRuntime
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
	// An overlay dial costs far more than a TCP one (the SDK evaluates
	// posture under a lock on every dial), so keep enough idle connections
	// for a busy share: with Caddy's 32, 64 clients redialled constantly and
	// reached 0.84x of the overlay ceiling; 128 gave 0.99x (bench/README.md).
	if t.KeepAlive == nil {
		t.KeepAlive = new(reverseproxy.KeepAlive)
	}
	if t.KeepAlive.MaxIdleConnsPerHost == 0 {
		t.KeepAlive.MaxIdleConnsPerHost = 128
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

// dial dials "<share>:80" to any terminator of the share's service, and
// "<agent>@<share>:80" to the one its agent binds.
func (t *Transport) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("portico transport: bad upstream address %q: %w", addr, err)
	}
	agent, service := routes.SplitDialHost(host)
	conn, err := t.rt.dial(ctx, service, agent)
	// As a DialError, a failed dial may be retried on another agent of the
	// share whatever the method: nothing reached the agent.
	if err != nil {
		if agent != "" {
			return nil, reverseproxy.NewDialError(fmt.Errorf("dialing share %s (agent %s) over openziti: %w", service, agent, err))
		}
		return nil, reverseproxy.NewDialError(fmt.Errorf("dialing share %s over openziti: %w", service, err))
	}
	return conn, nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Transport)(nil)
	_ caddy.CleanerUpper = (*Transport)(nil)
	_ http.RoundTripper  = (*Transport)(nil)
)
