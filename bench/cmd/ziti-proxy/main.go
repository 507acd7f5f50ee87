// Command ziti-proxy is the overlay ceiling of the benchmarks: the least a
// frontend can do, an httputil.ReverseProxy that dials one Ziti service with
// the SDK. Portico is measured against it.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/porticoproxy/portico/internal/zitiident"
)

func main() {
	identity := flag.String("identity", "", "enrolled Ziti identity file")
	service := flag.String("service", "", "Ziti service to dial (a share token)")
	listen := flag.String("listen", "127.0.0.1:0", "HTTP listen address")
	flag.Parse()
	if *identity == "" || *service == "" {
		log.Fatal("ziti-proxy: -identity and -service are required")
	}
	zc, err := zitiident.NewContext(*identity)
	if err != nil {
		log.Fatal(err)
	}
	defer zc.Close()
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return zitiident.Dial(ctx, zc, *service, nil)
		},
		// As many idle connections as the load generator has clients, so no
		// request pays for a new overlay dial once warm.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     2 * time.Minute,
	}
	target := &url.URL{Scheme: "http", Host: *service}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
	}
	srv := &http.Server{Addr: *listen, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
