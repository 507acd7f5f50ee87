package caddymodule

// oauth.go holds the OAuth/OIDC login a share's policy can require: the
// providers the portico app configures, the login flow on the share's host,
// and the session cookie it leaves.

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/securecookie"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/github"

	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
)

const (
	// oauthCallbackPath is where a provider sends the visitor back, on the
	// share's own host. Register <scheme>://<share host>/.portico/oauth/callback
	// as a redirect URL with the provider.
	oauthCallbackPath = "/.portico/oauth/callback"
	sessionCookie     = "portico_session"
	loginCookie       = "portico_login"
	// loginLifetime bounds a login from the redirect to the callback.
	loginLifetime          = 10 * time.Minute
	defaultSessionLifetime = 24 * time.Hour
	minCookieKeyLen        = 32
	googleIssuer           = "https://accounts.google.com"
	githubAPI              = "https://api.github.com"
	// providerTimeout bounds each exchange with a provider.
	providerTimeout = 15 * time.Second
)

// OAuthConfig configures the logins that shares' policies can require.
type OAuthConfig struct {
	// CookieKey signs and encrypts the session cookies: at least 32 bytes,
	// kept secret and the same on every frontend instance that serves the
	// same shares. Placeholders such as {env.PORTICO_COOKIE_KEY} work.
	CookieKey string `json:"cookie_key,omitempty"`
	// SessionLifetime is how long a login lasts. Default: 24h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`
	// Providers are the providers a policy can name.
	Providers []OAuthProvider `json:"providers,omitempty"`
}

// OAuthProvider is one login provider.
type OAuthProvider struct {
	// Name is what a share's policy names. "github" is GitHub's OAuth and
	// "google" is Google's OIDC; any other name is a generic OIDC provider.
	Name string `json:"name"`
	// Issuer is the OIDC issuer URL of a generic provider.
	Issuer string `json:"issuer,omitempty"`
	// ClientID and ClientSecret are the frontend's credentials with the
	// provider. Placeholders work.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes replace the default scopes: "openid email" for OIDC,
	// "user:email" for GitHub.
	Scopes []string `json:"scopes,omitempty"`
	// AssumeEmailVerified takes an OIDC provider's email as verified when
	// its claims carry no email_verified at all. Off by default: without
	// the claim the provider does not vouch for the address, and anyone who
	// may register any address with it would pass an email rule. Set it
	// only for a provider that verifies every address it hands out.
	AssumeEmailVerified bool `json:"assume_email_verified,omitempty"`
}

// loginProvider is what the login flow needs of a provider.
type loginProvider interface {
	// authURL is where to send the visitor to log in.
	authURL(ctx context.Context, redirect, state, verifier, nonce string) (string, error)
	// verifiedEmail trades the callback's code for the visitor's verified
	// email; errUnverified if there is none.
	verifiedEmail(ctx context.Context, redirect, code, verifier, nonce string) (string, error)
}

var errUnverified = errors.New("the provider vouches for no verified email")

// oauthRuntime is a provisioned OAuthConfig.
type oauthRuntime struct {
	providers map[string]loginProvider
	session   *securecookie.SecureCookie
	login     *securecookie.SecureCookie
	lifetime  time.Duration
}

// provision resolves placeholders, checks the config and builds the
// providers. It does no network I/O: OIDC discovery happens on first use.
func (c *OAuthConfig) provision() (*oauthRuntime, error) {
	fields := map[string]*string{"cookie_key": &c.CookieKey}
	for i := range c.Providers {
		p := &c.Providers[i]
		fields[p.Name+".issuer"], fields[p.Name+".client_id"], fields[p.Name+".client_secret"] = &p.Issuer, &p.ClientID, &p.ClientSecret
	}
	if err := expand("oauth", fields); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	o := &oauthRuntime{providers: map[string]loginProvider{}, lifetime: time.Duration(c.SessionLifetime)}
	if o.lifetime == 0 {
		o.lifetime = defaultSessionLifetime
	}
	// Separate keys for the MAC and the cipher, both from the one secret.
	hashKey, err := hkdf.Key(sha256.New, []byte(c.CookieKey), nil, "portico cookie mac", 32)
	if err != nil {
		return nil, err
	}
	blockKey, err := hkdf.Key(sha256.New, []byte(c.CookieKey), nil, "portico cookie aes", 32)
	if err != nil {
		return nil, err
	}
	// securecookie encrypts (AES-256-CTR), then signs (HMAC-SHA256) the
	// value with the cookie's name and a timestamp it checks against MaxAge.
	codec := func(maxAge time.Duration) *securecookie.SecureCookie {
		sc := securecookie.New(hashKey, blockKey)
		sc.SetSerializer(securecookie.JSONEncoder{})
		sc.MaxAge(int(maxAge.Seconds()))
		return sc
	}
	o.session, o.login = codec(o.lifetime), codec(loginLifetime)
	for _, p := range c.Providers {
		o.providers[p.Name] = p.build()
	}
	return o, nil
}

func (c *OAuthConfig) validate() error {
	var errs []error
	if len(c.CookieKey) < minCookieKeyLen {
		errs = append(errs, fmt.Errorf("oauth cookie_key must be at least %d bytes, it has %d", minCookieKeyLen, len(c.CookieKey)))
	}
	if c.SessionLifetime < 0 {
		errs = append(errs, errors.New("oauth session_lifetime must be positive"))
	}
	if len(c.Providers) == 0 {
		errs = append(errs, errors.New("oauth needs at least one provider"))
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		if err := p.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("oauth provider %q is configured twice", p.Name))
		}
		seen[p.Name] = true
	}
	return errors.Join(errs...)
}

func (p OAuthProvider) validate() error {
	var errs []error
	if err := policy.CheckProviderName(p.Name); err != nil {
		errs = append(errs, err)
	}
	if p.ClientID == "" || p.ClientSecret == "" {
		errs = append(errs, fmt.Errorf("oauth provider %q: client_id and client_secret are required", p.Name))
	}
	switch p.Name {
	case "github", "google":
		if p.Issuer != "" {
			errs = append(errs, fmt.Errorf("oauth provider %q: the issuer is built in; name a generic OIDC provider otherwise", p.Name))
		}
	default:
		if u, err := url.Parse(p.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("oauth provider %q: issuer %q is not an http(s) URL", p.Name, p.Issuer))
		}
	}
	return errors.Join(errs...)
}

func (p OAuthProvider) build() loginProvider {
	cfg := oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Scopes: p.Scopes}
	switch p.Name {
	case "github":
		cfg.Endpoint = github.Endpoint
		if len(cfg.Scopes) == 0 {
			cfg.Scopes = []string{"user:email"}
		}
		return &githubProvider{cfg: cfg, api: githubAPI}
	case "google":
		p.Issuer = googleIssuer
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email"}
	}
	return &oidcProvider{issuer: p.Issuer, cfg: cfg, assumeVerified: p.AssumeEmailVerified}
}

// oidcProvider logs in with OpenID Connect. It discovers the provider on
// first use, and again after a failure, so Provision stays offline.
type oidcProvider struct {
	issuer         string
	cfg            oauth2.Config
	assumeVerified bool // AssumeEmailVerified

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func (p *oidcProvider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider == nil {
		// The key set keeps ctx's values, never its cancellation.
		prov, err := oidc.NewProvider(ctx, p.issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("discovering OIDC provider %s: %w", p.issuer, err)
		}
		p.provider, p.verifier = prov, prov.Verifier(&oidc.Config{ClientID: p.cfg.ClientID})
	}
	return p.provider, p.verifier, nil
}

func (p *oidcProvider) config(prov *oidc.Provider, redirect string) *oauth2.Config {
	cfg := p.cfg
	cfg.Endpoint, cfg.RedirectURL = prov.Endpoint(), redirect
	return &cfg
}

func (p *oidcProvider) authURL(ctx context.Context, redirect, state, verifier, nonce string) (string, error) {
	prov, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.config(prov, redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), nil
}

func (p *oidcProvider) verifiedEmail(ctx context.Context, redirect, code, verifier, nonce string) (string, error) {
	prov, idVerifier, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	tok, err := p.config(prov, redirect).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("exchanging the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("the token response holds no id_token")
	}
	idt, err := idVerifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("verifying the id_token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return "", errors.New("the id_token's nonce is not this login's")
	}
	var claims emailClaims
	if err := idt.Claims(&claims); err != nil {
		return "", fmt.Errorf("reading the id_token's claims: %w", err)
	}
	if claims.Email == "" { // some providers put it in userinfo only
		info, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return "", fmt.Errorf("fetching userinfo: %w", err)
		}
		if info.Subject != idt.Subject {
			return "", errors.New("userinfo is about another subject than the id_token")
		}
		if err := info.Claims(&claims); err != nil {
			return "", fmt.Errorf("reading userinfo: %w", err)
		}
	}
	if claims.Email == "" || !claims.verified(p.assumeVerified) {
		return "", errUnverified
	}
	return claims.Email, nil
}

// emailClaims are the OIDC claims a login needs. email_verified must be
// true, or absent from a provider set to AssumeEmailVerified; some providers
// send it as a string.
type emailClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
}

func (c emailClaims) verified(assumeIfAbsent bool) bool {
	switch v := c.EmailVerified.(type) {
	case nil:
		return assumeIfAbsent
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// githubProvider logs in with GitHub's OAuth; the email is the account's
// verified primary one, as GitHub's API reports it.
type githubProvider struct {
	cfg oauth2.Config
	api string
}

func (g *githubProvider) config(redirect string) *oauth2.Config {
	cfg := g.cfg
	cfg.RedirectURL = redirect
	return &cfg
}

func (g *githubProvider) authURL(_ context.Context, redirect, state, verifier, _ string) (string, error) {
	return g.config(redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

func (g *githubProvider) verifiedEmail(ctx context.Context, redirect, code, verifier, _ string) (string, error) {
	cfg := g.config(redirect)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("exchanging the code: %w", err)
	}
	return githubPrimaryEmail(ctx, cfg.Client(ctx, tok), g.api)
}

// githubPrimaryEmail asks GitHub's API for the account's verified primary email.
func githubPrimaryEmail(ctx context.Context, client *http.Client, api string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(api, "/")+"/user/emails", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching the GitHub account's emails: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching the GitHub account's emails: %s", resp.Status)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&emails); err != nil {
		return "", fmt.Errorf("decoding the GitHub account's emails: %w", err)
	}
	for _, e := range emails {
		if e.Primary && e.Verified && e.Email != "" {
			return e.Email, nil
		}
	}
	return "", errUnverified
}

// session is what the session cookie holds. The share token binds it to
// one share, so it is worth nothing on another even if it were moved there.
type session struct {
	Email    string `json:"e"`
	Share    string `json:"s"`
	Provider string `json:"p"`
	Expires  int64  `json:"x"`
}

// pendingLogin is what the login cookie holds between the redirect to the
// provider and the callback.
type pendingLogin struct {
	State    string `json:"st"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Return   string `json:"r"`
	Share    string `json:"s"`
	Provider string `json:"p"`
}

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

func (o *oauthRuntime) readSession(r *http.Request, route *routes.Route, rule *policy.OAuthRule) (session, bool) {
	c, err := r.Cookie(cookieName(r, sessionCookie))
	if err != nil {
		return session{}, false
	}
	var sess session
	if err := o.session.Decode(sessionCookie, c.Value, &sess); err != nil {
		return session{}, false
	}
	ok := sess.Share == route.Share && sess.Provider == rule.Provider && time.Now().Unix() < sess.Expires
	return sess, ok
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

// cookie is one of ours: for this host only (no Domain), out of scripts'
// reach, sent on the provider's redirect back (Lax) and Secure over HTTPS.
// A negative maxAge deletes it.
func cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: cookieName(r, name), Value: value, Path: "/",
		HttpOnly: true, Secure: scheme(r) == "https", SameSite: http.SameSiteLaxMode,
		MaxAge: int(maxAge.Seconds()),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// cookieName is the name a cookie of ours has on the wire. Over HTTPS the
// __Host- prefix makes browsers refuse one that a sibling share sets for the
// parent domain, so no share can plant a cookie on another.
func cookieName(r *http.Request, name string) string {
	if scheme(r) == "https" {
		return "__Host-" + name
	}
	return name
}

// hideCookies removes the frontend's cookies from a request before it
// reaches the share: they are none of its business.
func hideCookies(r *http.Request) {
	cookies := r.Cookies()
	kept := cookies[:0]
	for _, c := range cookies {
		if name := strings.TrimPrefix(c.Name, "__Host-"); name != sessionCookie && name != loginCookie {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(cookies) {
		return
	}
	r.Header.Del("Cookie")
	for _, c := range kept {
		r.AddCookie(c)
	}
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
