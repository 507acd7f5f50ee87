package deploy

import (
	"bytes"
	_ "embed"
	"errors"
	"strings"
	"text/template"
)

// frontendCaddyfile is the template of a frontend instance's Caddyfile.
//
//go:embed frontend.caddyfile
var frontendCaddyfile string

var frontendTemplate = template.Must(template.New("frontend.caddyfile").
	Funcs(template.FuncMap{"join": strings.Join, "quote": quote}).Parse(frontendCaddyfile))

// quote makes s one Caddyfile token, whatever spaces a path holds.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// Frontend is one frontend instance's Caddyfile: Caddy with the portico app
// and one site that routes every host to the shares. The tests, the
// benchmarks and the scripts all write theirs with it (the scripts through
// the frontend-caddyfile command). The instance reads its frontend secret
// from the environment variable PORTICO_FRONTEND_SECRET.
type Frontend struct {
	// Admin is Caddy's admin endpoint: an address, "unix/PATH|0600", or
	// "off" (the default).
	Admin string
	// Storage is the arguments of Caddy's storage option, such as
	// "file_system /var/lib/portico"; empty for Caddy's default.
	Storage string
	// TrustedProxies, if set, are the CIDRs of a load balancer in front of
	// the instance, whose X-Forwarded-For is believed from the right.
	TrustedProxies []string
	// Global are more global options, one per line (ports, ACME).
	Global []string

	// Controllers are the controllers' gRPC addresses.
	Controllers []string
	// Frontend is the frontend record's token.
	Frontend string
	// Identity is the frontend's OpenZiti identity file.
	Identity string
	// CacheDir is where the instance keeps its mapping cache.
	CacheDir string
	// Options are more lines of the portico block, such as "amqp URL".
	Options []string
	// OnDemandTLS gets each share's certificate when it is first asked
	// for, for names the controller says are live.
	OnDemandTLS bool

	// Site is the site address, such as "http://:8080" or "https://".
	Site string
	// Bind, if set, is the one address the site listens on.
	Bind string
	// Directives go into the site before Handler.
	Directives []string
	// Handler is the directive that serves the shares: "portico" (the
	// default), or a portico block, or portico_share with reverse_proxy.
	Handler string
}

// Caddyfile renders f, refusing one that lacks what every frontend needs.
func (f Frontend) Caddyfile() ([]byte, error) {
	switch {
	case len(f.Controllers) == 0:
		return nil, errors.New("a frontend needs the controllers' gRPC addresses")
	case f.Frontend == "":
		return nil, errors.New("a frontend needs its frontend token")
	case f.Identity == "":
		return nil, errors.New("a frontend needs its OpenZiti identity file")
	case f.CacheDir == "":
		return nil, errors.New("a frontend needs a cache directory")
	case f.Site == "":
		return nil, errors.New("a frontend needs a site address")
	}
	var b bytes.Buffer
	if err := frontendTemplate.Execute(&b, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
