package caddymodule

// caddyfile.go holds the Caddyfile syntax of the portico modules.

import (
	"encoding/json"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("portico", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("portico_share", parseShare)
	// Early, so that header, log and auth directives can use {portico.share}.
	httpcaddyfile.RegisterDirectiveOrder("portico_share", httpcaddyfile.Before, "header")
	httpcaddyfile.RegisterDirective("portico", parsePortico)
	httpcaddyfile.RegisterDirectiveOrder("portico", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobal sets up the portico app:
//
//	portico {
//	    controllers  <host:port...>
//	    frontend     <token>
//	    secret       <secret>
//	    identity     <ziti identity file>
//	    resync_interval <duration>
//	    cache_dir    <dir>
//	    amqp         <url> [<exchange>]
//	    tls_ca       <pem file>|system
//	    oauth {
//	        cookie_key       <secret of 32+ bytes>
//	        session_lifetime <duration>
//	        github [<client_id> <client_secret>] [{
//	            client_id     <id>
//	            client_secret <secret>
//	            scopes        <scope...>
//	        }]
//	        google [<client_id> <client_secret>] [{ ...as github... }]
//	        oidc <name> [{
//	            issuer        <url>
//	            client_id     <id>
//	            client_secret <secret>
//	            scopes        <scope...>
//	            assume_email_verified
//	        }]
//	    }
//	}
func parseGlobal(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "portico", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "controllers", "controller":
			a.Controllers = append(a.Controllers, d.RemainingArgs()...)
			if len(a.Controllers) == 0 {
				return d.ArgErr()
			}
		case "frontend", "secret", "identity", "cache_dir", "tls_ca":
			key := d.Val()
			var val string
			if !d.AllArgs(&val) {
				return d.ArgErr()
			}
			switch key {
			case "frontend":
				a.Frontend = val
			case "secret":
				a.Secret = val
			case "identity":
				a.Identity = val
			case "cache_dir":
				a.CacheDir = val
			case "tls_ca":
				a.TLSCA = val
			}
		case "amqp":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			a.AMQPURL = args[0]
			if len(args) == 2 {
				a.AMQPExchange = args[1]
			}
		case "oauth":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.OAuth = new(OAuthConfig)
			if err := a.OAuth.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "resync_interval":
			var val string
			if !d.AllArgs(&val) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("bad resync_interval %q: %v", val, err)
			}
			if dur <= 0 {
				return d.Errf("resync_interval must be positive, got %s", val)
			}
			a.ResyncInterval = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized portico option %q", d.Val())
		}
	}
	return nil
}

// unmarshalCaddyfile reads the block of the oauth option.
func (c *OAuthConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch v := d.Val(); v {
		case "cookie_key":
			if !d.AllArgs(&c.CookieKey) {
				return d.ArgErr()
			}
		case "session_lifetime":
			var val string
			if !d.AllArgs(&val) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("bad session_lifetime %q: want a positive duration", val)
			}
			c.SessionLifetime = caddy.Duration(dur)
		case "github", "google", "oidc":
			p := OAuthProvider{Name: v}
			args := d.RemainingArgs()
			if v == "oidc" {
				if len(args) == 0 {
					return d.Err("oidc needs a name for the provider, as policies will name it")
				}
				p.Name, args = args[0], args[1:]
				if p.Name == "github" || p.Name == "google" {
					return d.Errf("oidc %s: that name is built in; use the %s option", p.Name, p.Name)
				}
			}
			switch len(args) {
			case 0:
			case 2:
				p.ClientID, p.ClientSecret = args[0], args[1]
			default:
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "client_id":
					if !d.AllArgs(&p.ClientID) {
						return d.ArgErr()
					}
				case "client_secret":
					if !d.AllArgs(&p.ClientSecret) {
						return d.ArgErr()
					}
				case "issuer":
					if v != "oidc" {
						return d.Errf("%s has a built-in issuer", v)
					}
					if !d.AllArgs(&p.Issuer) {
						return d.ArgErr()
					}
				case "scopes":
					p.Scopes = d.RemainingArgs()
					if len(p.Scopes) == 0 {
						return d.ArgErr()
					}
				case "assume_email_verified":
					if v == "github" {
						return d.Err("assume_email_verified is for OIDC providers; GitHub reports verification itself")
					}
					if d.NextArg() {
						return d.ArgErr()
					}
					p.AssumeEmailVerified = true
				default:
					return d.Errf("unrecognized oauth provider option %q", d.Val())
				}
			}
			c.Providers = append(c.Providers, p)
		default:
			return d.Errf("unrecognized oauth option %q", v)
		}
	}
	return nil
}

// parseShare sets up portico_share, which takes no arguments.
func parseShare(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile checks that portico_share has no arguments.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("portico_share takes no arguments")
	}
	return nil
}

// UnmarshalCaddyfile checks that "dynamic portico" has no arguments.
func (u *Upstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume upstream source name
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("dynamic portico takes no arguments")
	}
	return nil
}

// UnmarshalCaddyfile checks that "permission portico" has no arguments.
func (p *Permission) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume module name
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("permission portico takes no arguments")
	}
	return nil
}

// parsePortico expands the shortcut
//
//	portico [<matcher>] {
//	    <reverse_proxy subdirectives>
//	}
//
// into portico_share followed by reverse_proxy with "dynamic portico" and
// "transport portico". The block takes any reverse_proxy subdirective except
// upstreams, dynamic and transport.
func parsePortico(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	userMatcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	h.Next() // the directive name, where the new dispenser starts
	d := h.NewFromNextSegment()
	if d.Next() && d.NextArg() {
		return nil, d.Errf("portico takes no upstream addresses: the share's agent is its upstream")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch v := d.Val(); v {
		case "to", "dynamic", "transport":
			return nil, d.Errf("portico sets %s itself; use the long form (portico_share and reverse_proxy) to change it", v)
		}
	}
	d.Reset() // reverse_proxy's parser reads the whole segment again
	rp := &reverseproxy.Handler{
		DynamicUpstreamsRaw: caddyconfig.JSONModuleObject(Upstreams{}, "source", "portico", nil),
		TransportRaw:        caddyconfig.JSONModuleObject(Transport{}, "protocol", "portico", nil),
	}
	if err := rp.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	if err := rp.FinalizeUnmarshalCaddyfile(h); err != nil {
		return nil, err
	}
	setAgentDefaults(rp)
	route := caddyhttp.Route{
		HandlersRaw: []json.RawMessage{
			caddyconfig.JSONModuleObject(Handler{}, "handler", "portico_share", nil),
			caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", nil),
		},
	}
	if userMatcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{userMatcherSet}
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// setAgentDefaults lets a share served by several agents ride out one that
// crashed and is not yet reaped: a failed dial is retried on another agent
// and the failed one is skipped for a while, unless every agent is
// (AgentSelection). Settings in the block win.
func setAgentDefaults(rp *reverseproxy.Handler) {
	if rp.LoadBalancing == nil {
		rp.LoadBalancing = &reverseproxy.LoadBalancing{}
	}
	if rp.LoadBalancing.SelectionPolicyRaw == nil {
		rp.LoadBalancing.SelectionPolicyRaw = caddyconfig.JSONModuleObject(AgentSelection{}, "policy", "portico_agents", nil)
	}
	if rp.LoadBalancing.Retries == 0 && rp.LoadBalancing.TryDuration == 0 {
		rp.LoadBalancing.Retries = 2
	}
	if rp.HealthChecks == nil {
		rp.HealthChecks = &reverseproxy.HealthChecks{}
	}
	if rp.HealthChecks.Passive == nil {
		rp.HealthChecks.Passive = &reverseproxy.PassiveHealthChecks{FailDuration: caddy.Duration(5 * time.Second)}
	}
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*Upstreams)(nil)
	_ caddyfile.Unmarshaler = (*Transport)(nil)
	_ caddyfile.Unmarshaler = (*Permission)(nil)
)
