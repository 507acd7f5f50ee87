// Command frontend-caddyfile writes the Caddyfile of one Portico frontend
// instance (deploy.Frontend), the same one the tests and benchmarks run:
//
//	frontend-caddyfile --controllers 127.0.0.1:18080 --frontend TOKEN \
//	  --identity frontend.json --cache-dir cache --site http://:8080 > Caddyfile
//
// Run Caddy on it with the frontend's secret in PORTICO_FRONTEND_SECRET. The
// local stack's scripts (scripts/demo.sh, scripts/cluster.sh) use it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/porticoproxy/portico/deploy"
)

func main() {
	var f deploy.Frontend
	out := ""
	fs := flag.NewFlagSet("frontend-caddyfile", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: frontend-caddyfile --controllers ADDRS --frontend TOKEN --identity FILE --cache-dir DIR --site ADDR [options]")
		fmt.Fprintln(fs.Output(), "Writes a Portico frontend's Caddyfile; Caddy reads the secret from PORTICO_FRONTEND_SECRET.")
		fs.PrintDefaults()
	}
	list := func(dst *[]string) func(string) error {
		return func(s string) error { *dst = append(*dst, s); return nil }
	}
	fs.Func("controllers", "the controllers' gRPC addresses, comma-separated", func(s string) error {
		f.Controllers = append(f.Controllers, strings.Split(s, ",")...)
		return nil
	})
	fs.StringVar(&f.Frontend, "frontend", "", "the frontend record's token")
	fs.StringVar(&f.Identity, "identity", "", "the frontend's OpenZiti identity file")
	fs.StringVar(&f.CacheDir, "cache-dir", "", "where the instance keeps its mapping cache")
	fs.StringVar(&f.Site, "site", "", `the site address, such as "http://:8080" or "http://*.share.example.com"`)
	fs.StringVar(&f.Bind, "bind", "", "the one address the site listens on (default: all)")
	fs.StringVar(&f.Admin, "admin", "off", `Caddy's admin endpoint: an address, "unix/PATH|0600" or "off"`)
	fs.StringVar(&f.Storage, "storage", "", `the arguments of Caddy's storage option, such as "file_system DIR"`)
	fs.Func("global", `a global option, such as "https_port 8443" (repeatable)`, list(&f.Global))
	fs.Func("trusted-proxy", "a CIDR of a load balancer whose X-Forwarded-For is believed (repeatable)", list(&f.TrustedProxies))
	fs.Func("option", `a line of the portico block, such as "amqp {env.PORTICO_AMQP}" (repeatable)`, list(&f.Options))
	fs.BoolVar(&f.OnDemandTLS, "on-demand-tls", false, "get each live share's certificate when it is first asked for")
	fs.StringVar(&out, "o", "", "write to this file (mode 0600) instead of standard output")
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}
	caddyfile, err := f.Caddyfile()
	if err == nil && out != "" {
		err = os.WriteFile(out, caddyfile, 0o600)
	} else if err == nil {
		_, err = os.Stdout.Write(caddyfile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontend-caddyfile:", err)
		os.Exit(1)
	}
}
