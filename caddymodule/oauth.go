package caddymodule

// oauth.go holds the portico app's OAuth config and its provisioning into
// the logins that shares' policies can require.

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/gorilla/securecookie"

	"github.com/porticoproxy/portico/internal/policy"
)

const (
	defaultSessionLifetime = 24 * time.Hour
	minCookieKeyLen        = 32
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
	var err error
	if o.session, o.login, err = cookieCodecs(c.CookieKey, o.lifetime); err != nil {
		return nil, err
	}
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
