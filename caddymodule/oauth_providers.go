package caddymodule

// oauth_providers.go holds the login providers: generic OIDC, Google's
// OIDC and GitHub's OAuth, each yielding the visitor's verified email.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/github"
)

const (
	googleIssuer = "https://accounts.google.com"
	githubAPI    = "https://api.github.com"
)

// loginProvider is what the login flow needs of a provider.
type loginProvider interface {
	// authURL is where to send the visitor to log in.
	authURL(ctx context.Context, redirect, state, verifier, nonce string) (string, error)
	// verifiedEmail trades the callback's code for the visitor's verified
	// email; errUnverified if there is none.
	verifiedEmail(ctx context.Context, redirect, code, verifier, nonce string) (string, error)
}

var errUnverified = errors.New("the provider vouches for no verified email")

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
