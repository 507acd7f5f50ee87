package caddymodule

// oauth_flow.go holds the login flow on a share's host: the redirect to the
// provider, the callback that trades the code for a session, and the
// check of a session on every request.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
)

const (
	// oauthCallbackPath is where a provider sends the visitor back, on the
	// share's own host. Register <scheme>://<share host>/.portico/oauth/callback
	// as a redirect URL with the provider.
	oauthCallbackPath = "/.portico/oauth/callback"
	// providerTimeout bounds each exchange with a provider.
	providerTimeout = 15 * time.Second
)

// oauthLogin admits a visitor of an oauth share: with a valid session it
// returns the email; otherwise it answers the request itself (done) by
// sending the visitor to the provider, or by finishing a login at the
// callback path.
func (h *Handler) oauthLogin(w http.ResponseWriter, r *http.Request, route *routes.Route, rule *policy.OAuthRule) (email string, done bool, err error) {
	var prov loginProvider
	if h.oauth != nil {
		prov = h.oauth.providers[rule.Provider]
	}
	if prov == nil {
		h.refusals.Error("refusing every request to share "+route.Name+": its oauth provider is not configured here",
			zap.String("share", route.Share), zap.String("provider", rule.Provider))
		return "", true, caddyhttp.Error(http.StatusServiceUnavailable,
			fmt.Errorf("share %s requires a login with %q, which this frontend does not offer", route.Name, rule.Provider))
	}
	o := h.oauth
	if r.URL.Path == oauthCallbackPath {
		return "", true, o.finishLogin(w, r, route, rule, prov)
	}
	if sess, ok := o.readSession(r, route, rule); ok {
		if !rule.AllowsEmail(sess.Email) { // the policy changed since the login
			return "", true, caddyhttp.Error(http.StatusForbidden, fmt.Errorf("%s may not reach share %s", sess.Email, route.Name))
		}
		hideCookies(r)
		return sess.Email, false, nil
	}
	return "", true, o.startLogin(w, r, route, rule, prov)
}

func (o *oauthRuntime) startLogin(w http.ResponseWriter, r *http.Request, route *routes.Route, rule *policy.OAuthRule, prov loginProvider) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return caddyhttp.Error(http.StatusUnauthorized, fmt.Errorf("share %s requires a login: open it in a browser first", route.Name))
	}
	pl := pendingLogin{
		State:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		Nonce:    randomToken(),
		Return:   r.URL.RequestURI(),
		Share:    route.Share,
		Provider: rule.Provider,
	}
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	target, err := prov.authURL(ctx, callbackURL(r), pl.State, pl.Verifier, pl.Nonce)
	if err != nil {
		return withDetail(http.StatusBadGateway, "cannot start a login with "+rule.Provider+" now: try again later", err)
	}
	value, err := o.login.Encode(loginCookie, pl)
	if err != nil {
		return withDetail(http.StatusInternalServerError, "cannot start a login now: try again later", fmt.Errorf("encoding the login cookie: %w", err))
	}
	http.SetCookie(w, cookie(r, loginCookie, value, loginLifetime))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

func (o *oauthRuntime) finishLogin(w http.ResponseWriter, r *http.Request, route *routes.Route, rule *policy.OAuthRule, prov loginProvider) error {
	c, err := r.Cookie(cookieName(r, loginCookie))
	var pl pendingLogin
	if err == nil {
		err = o.login.Decode(loginCookie, c.Value, &pl)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, errors.New("no login is in progress here, or it expired: open the share again"))
	}
	http.SetCookie(w, cookie(r, loginCookie, "", -1))
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("%s refused the login: %s %s", rule.Provider, e, q.Get("error_description")))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(pl.State)) != 1 {
		return caddyhttp.Error(http.StatusBadRequest, errors.New("the login's state does not match: open the share again"))
	}
	if pl.Share != route.Share || pl.Provider != rule.Provider {
		return caddyhttp.Error(http.StatusBadRequest, errors.New("the login was started for another share"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	email, err := prov.verifiedEmail(ctx, callbackURL(r), q.Get("code"), pl.Verifier, pl.Nonce)
	if errors.Is(err, errUnverified) {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("login with %s: %w", rule.Provider, err))
	}
	if err != nil {
		return withDetail(http.StatusBadGateway, "the login with "+rule.Provider+" did not complete: open the share again", err)
	}
	if !rule.AllowsEmail(email) {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("%s may not reach share %s", email, route.Name))
	}
	value, err := o.session.Encode(sessionCookie, session{
		Email: email, Share: route.Share, Provider: rule.Provider, Expires: time.Now().Add(o.lifetime).Unix(),
	})
	if err != nil {
		return withDetail(http.StatusInternalServerError, "cannot finish the login now: try again later", fmt.Errorf("encoding the session cookie: %w", err))
	}
	http.SetCookie(w, cookie(r, sessionCookie, value, o.lifetime))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, localPath(pl.Return), http.StatusFound)
	return nil
}

// callbackURL is the redirect URL on the share's host, as the visitor sees it.
func callbackURL(r *http.Request) string {
	return scheme(r) + "://" + r.Host + oauthCallbackPath
}

// scheme is the scheme the visitor used: ours, or a trusted proxy's word.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted && r.Header.Get("X-Forwarded-Proto") == "https" {
		return "https"
	}
	return "http"
}

// localPath keeps a return address on this host: a path, never "//host" or
// a URL, which would make the callback an open redirect.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
