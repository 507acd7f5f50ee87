// Package agent forwards what arrives on a share's Ziti listener to the
// local target, through the share's Backend: an HTTP Proxy, a Caddy (the
// web and caddy modes), or a TCPTunnel or UDPTunnel.
package agent

// proxy.go holds the HTTP proxy backend.

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/policy"
)

// Proxy is the backend of the proxy mode: it proxies HTTP requests to
// Target. httputil.ReverseProxy carries streaming bodies and WebSocket
// upgrades.
type Proxy struct {
	Target *url.URL
	// Insecure accepts any certificate from an https Target.
	Insecure bool
	// StripIdentity removes the X-Portico-* headers of every request, for a
	// private share: only a frontend sets them, and a private share's peers
	// dial the agent without a frontend between.
	StripIdentity bool
}

// Serve proxies the requests that arrive on ln until ctx ends or ln fails.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener, logger *zap.Logger) error {
	target := p.Target
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // the target is local; never go through an HTTP proxy
	if p.Insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if p.StripIdentity {
				policy.StripIdentityHeaders(pr.Out.Header)
			}
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
			if proto := pr.In.Header.Get("X-Forwarded-Proto"); proto != "" {
				pr.Out.Header.Set("X-Forwarded-Proto", proto)
			}
		},
		Transport:  transport,
		BufferPool: proxyBuffers{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn("target unreachable", zap.String("target", target.String()), zap.Error(err))
			http.Error(w, "portico agent: the shared service at "+target.String()+" is not answering", http.StatusBadGateway)
		},
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Without full duplex, net/http drains what it thinks is left of
			// the request body when the answer starts, racing the proxy's own
			// copy of that body to the target; the proxy then loses the target
			// connection mid-answer and the response is cut short.
			http.NewResponseController(w).EnableFullDuplex()
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          zap.NewStdLog(logger),
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}
