package caddymodule

// handler.go holds portico_share, which resolves a request's Host to a share.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// routeVar is the request variable that carries the matched *routes.Route
// from portico_share to the dynamic upstreams.
const routeVar = "portico.route"

var errNotLoaded = errors.New("the frontend has not loaded its mappings yet")

// The headers a request reaches a share with once a visitor has logged in.
const (
	// HeaderUser is the basic-auth user name or the OAuth email.
	HeaderUser = "X-Portico-User"
	// HeaderAuth is how the visitor logged in: "basic" or "oauth".
	HeaderAuth = "X-Portico-Auth"
)

// Handler is the portico_share HTTP handler. It resolves the request's Host
// to a live share and applies the share's access policy. An unknown host is
// a 404 and a frontend that has not loaded its table yet answers 503 with
// Retry-After, both through Caddy's error handling so that handle_errors can
// style them. It sets the {portico.share}, {portico.name} and, after a
// login, {portico.user} placeholders.
//
// Whatever the policy, every X-Portico-* header a client sends is removed.
// Then: a client address outside the policy's ranges gets 403; basic auth
// without valid credentials gets 401 with a challenge for the share's host;
// an OAuth login without a session is sent to the provider (see oauth_flow.go);
// a visitor who logs in reaches the share with X-Portico-User and
// X-Portico-Auth; last, the policy's header rules apply. A share whose policy
// does not compile refuses every request with 503.
type Handler struct {
	table        *routes.Table
	oauth        *oauthRuntime
	failedLogins *policy.FailedLogins
	// refusals logs shares refused for a broken policy, and the detail of
	// errors visitors see without it, each message once a minute.
	refusals *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.portico_share",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the portico app.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := portico(ctx)
	if err != nil {
		return err
	}
	h.table = app.rt.table
	h.failedLogins = app.rt.failedLogins
	h.oauth = app.oauth
	h.refusals = ctx.Logger().WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Minute, 1, 0)
	}))
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	host := routes.NormalizeHost(r.Host)
	route, loaded := h.table.Lookup(host)
	if route == nil {
		if !loaded {
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, errNotLoaded)
		}
		return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no share is served at %s", host))
	}
	policy.StripIdentityHeaders(r.Header)
	caddyhttp.SetVar(r.Context(), routeVar, route)
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("portico.share", route.Share)
	repl.Set("portico.name", route.Name)

	if route.Access != nil || route.AccessErr != nil {
		var done bool
		var err error
		if w, done, err = h.enforce(w, r, route, repl); done || err != nil {
			return h.logDetail(route, err)
		}
	}
	return h.logDetail(route, h.public(route, next.ServeHTTP(w, r)))
}

// public rewrites an error from the handlers after this one (the proxy's,
// which can hold OpenZiti's errors and service names) into what a visitor
// needs to know, keeping the original as the detail for the log.
func (h *Handler) public(route *routes.Route, err error) error {
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) {
		return err
	}
	var msg string
	switch {
	case he.StatusCode == http.StatusBadGateway || he.StatusCode == http.StatusServiceUnavailable && noneAvailable(route):
		he.StatusCode, msg = http.StatusBadGateway, "share "+route.Name+" is offline: its agent is not connected"
	case errors.As(err, new(*detailed)):
		return err
	default:
		msg = fmt.Sprintf("share %s: %s", route.Name, http.StatusText(he.StatusCode))
	}
	he.Err = &detailed{public: msg, detail: he.Err}
	return he
}

// detailed is an error whose message is written for visitors, who see it on
// error pages through {err.message}, and whose detail (share tokens,
// OpenZiti's or a login provider's own words) is for the frontend's log
// only: Handler logs it.
type detailed struct {
	public string
	detail error
}

func (e *detailed) Error() string { return e.public }
func (e *detailed) Unwrap() error { return e.detail }

// withDetail is a handler error with status that shows visitors public and
// logs detail.
func withDetail(status int, public string, detail error) error {
	return caddyhttp.Error(status, &detailed{public: public, detail: detail})
}

// logDetail logs the detail of an error that hides it from visitors, each
// message at most once a minute, and returns err.
func (h *Handler) logDetail(route *routes.Route, err error) error {
	var d *detailed
	if errors.As(err, &d) && d.detail != nil {
		h.refusals.Warn(d.public, zap.String("share", route.Share), zap.Error(d.detail))
	}
	return err
}

// noneAvailable reports whether the proxy has marked every agent of the
// share down after failed dials, which it answers with 503.
func noneAvailable(route *routes.Route) bool {
	for _, u := range route.Upstreams {
		if u.Host == nil || u.Available() {
			return false
		}
	}
	return true
}

// enforce applies route's access policy to r. It returns the writer to go on
// with, or done when it has answered the request itself.
func (h *Handler) enforce(w http.ResponseWriter, r *http.Request, route *routes.Route, repl *caddy.Replacer) (http.ResponseWriter, bool, error) {
	if route.AccessErr != nil {
		h.refusals.Error("refusing every request to share "+route.Name+": its access policy does not compile",
			zap.String("share", route.Share), zap.Error(route.AccessErr))
		return w, true, caddyhttp.Error(http.StatusServiceUnavailable,
			fmt.Errorf("share %s refuses requests: its access policy is invalid", route.Name))
	}
	p := route.Access
	if p.FiltersAddresses() {
		// As Caddy's client_ip matcher: in TLS early data the address may be spoofed.
		if r.TLS != nil && !r.TLS.HandshakeComplete {
			return w, true, caddyhttp.Error(http.StatusTooEarly, errors.New("TLS handshake not complete, client address cannot be verified"))
		}
		addr, err := clientAddr(r)
		if err != nil {
			return w, true, caddyhttp.Error(http.StatusForbidden, fmt.Errorf("client address of a request to share %s: %w", route.Name, err))
		}
		if !p.AllowsAddress(addr) {
			return w, true, caddyhttp.Error(http.StatusForbidden, fmt.Errorf("client %s may not reach share %s", addr, route.Name))
		}
	}
	var user, method string
	switch {
	case p.RequiresBasicAuth():
		name, err := h.basicAuth(w, r, route)
		if err != nil {
			return w, true, err
		}
		user, method = name, "basic"
	case p.OAuth() != nil:
		email, done, err := h.oauthLogin(w, r, route, p.OAuth())
		if done || err != nil {
			return w, true, err
		}
		user, method = email, "oauth"
	}
	if user != "" {
		r.Header.Set(HeaderUser, user)
		r.Header.Set(HeaderAuth, method)
		repl.Set("portico.user", user)
	}
	p.RewriteRequest(r.Header)
	if p.RewritesResponse() {
		w = &rewriteResponse{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, policy: p}
	}
	return w, false, nil
}

// loginWait bounds how long a login waits for a bcrypt compare slot.
const loginWait = 5 * time.Second

// basicAuth checks the request's basic-auth credentials against route's
// policy and returns the user, or the error to answer with: 401 with a
// challenge, 429 for a client that failed too often on this share, 503 when
// the frontend's compare slots stay busy.
func (h *Handler) basicAuth(w http.ResponseWriter, r *http.Request, route *routes.Route) (string, error) {
	name, password, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", route.Name))
		return "", caddyhttp.Error(http.StatusUnauthorized, fmt.Errorf("share %s requires basic auth", route.Name))
	}
	client, err := clientAddr(r)
	if err != nil {
		return "", caddyhttp.Error(http.StatusForbidden, fmt.Errorf("client address of a request to share %s: %w", route.Name, err))
	}
	var tooMany *policy.TooManyFailures
	if err := h.failedLogins.Allow(route.Share, client); errors.As(err, &tooMany) {
		w.Header().Set("Retry-After", strconv.Itoa(int(tooMany.RetryAfter.Seconds())+1))
		return "", caddyhttp.Error(http.StatusTooManyRequests, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), loginWait)
	good, err := route.Access.CheckBasicAuth(ctx, name, password)
	cancel()
	if err != nil {
		w.Header().Set("Retry-After", "1")
		return "", caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	if !good {
		h.failedLogins.Failed(route.Share, client)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", route.Name))
		return "", caddyhttp.Error(http.StatusUnauthorized, fmt.Errorf("share %s: wrong user name or password", route.Name))
	}
	// The password has no business reaching the share.
	r.Header.Del("Authorization")
	return name, nil
}

// clientAddr is the client's address as Caddy determined it, honouring the
// server's trusted_proxies; never a forwarding header on its own word.
func clientAddr(r *http.Request) (netip.Addr, error) {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if ip == "" { // outside a Caddy server: the peer itself
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip = host
	}
	return netip.ParseAddr(ip)
}

// rewriteResponse applies a policy's response header rules when the share's
// answer is written, once its own headers are in place.
type rewriteResponse struct {
	*caddyhttp.ResponseWriterWrapper
	policy      *policy.Compiled
	wroteHeader bool
}

func (w *rewriteResponse) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	// Rules apply to informational answers too; the final one ends them.
	w.policy.RewriteResponse(w.Header())
	if status < 100 || status > 199 || status == http.StatusSwitchingProtocols {
		w.wroteHeader = true
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *rewriteResponse) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}

func (w *rewriteResponse) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError lets http.ResponseController flush through the wrapper without
// skipping the rules.
func (w *rewriteResponse) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriterWrapper.ResponseWriter).Flush()
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
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ http.ResponseWriter         = (*rewriteResponse)(nil)
	_ io.ReaderFrom               = (*rewriteResponse)(nil)
)
