package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/porticoproxy/portico/internal/policy"
)

// policyFlags are the access-control flags of a public share; the frontends
// enforce what they build.
type policyFlags struct {
	basicAuth                  []string
	basicAuthFile              string
	allowIP, denyIP            []string
	setReq, removeReq          []string
	setResp, removeResp        []string
	oauthProvider              string
	oauthDomains, oauthAddress []string
}

func (f *policyFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayVar(&f.basicAuth, "basic-auth", nil, "admit only this user:password with HTTP basic auth (repeatable); the password is sent bcrypt-hashed, but on the command line others on this machine can read it: prefer --basic-auth-file")
	fs.StringVar(&f.basicAuthFile, "basic-auth-file", "", `read basic-auth users from this file, one user:password a line ("-" for standard input)`)
	fs.StringArrayVar(&f.allowIP, "allow-ip", nil, "admit only clients in this CIDR or address (repeatable)")
	fs.StringArrayVar(&f.denyIP, "deny-ip", nil, "refuse clients in this CIDR or address (repeatable; wins over --allow-ip)")
	fs.StringArrayVar(&f.setReq, "request-header", nil, `set a header on requests to the service, "Name: value" (repeatable)`)
	fs.StringArrayVar(&f.removeReq, "remove-request-header", nil, "remove a header from requests to the service (repeatable)")
	fs.StringArrayVar(&f.setResp, "response-header", nil, `set a header on the service's responses, "Name: value" (repeatable)`)
	fs.StringArrayVar(&f.removeResp, "remove-response-header", nil, "remove a header from the service's responses (repeatable)")
	fs.StringVar(&f.oauthProvider, "oauth-provider", "", "admit only visitors who log in with this provider the frontend offers (github, google or an OIDC provider's name)")
	fs.StringArrayVar(&f.oauthDomains, "oauth-email-domain", nil, "with --oauth-provider, admit only emails in this domain (repeatable)")
	fs.StringArrayVar(&f.oauthAddress, "oauth-email", nil, "with --oauth-provider, admit this email address (repeatable)")
}

// build returns the policy the flags describe, or nil if they set none.
func (f *policyFlags) build(cmd *cobra.Command) (*policy.Policy, error) {
	var p policy.Policy
	users := f.basicAuth
	if f.basicAuthFile != "" {
		lines, err := readLines(cmd, f.basicAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--basic-auth-file: %w", err)
		}
		users = append(users, lines...)
	}
	for _, ua := range users {
		user, pass, ok := strings.Cut(ua, ":")
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("--basic-auth: a user %q: want user:password", user)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("--basic-auth %q: %w", user, err)
		}
		p.BasicAuth = append(p.BasicAuth, policy.User{Username: user, PasswordHash: string(hash)})
	}
	p.IPAllow, p.IPDeny = f.allowIP, f.denyIP
	var err error
	if p.RequestHeaders, err = headerRules("request-header", f.setReq, f.removeReq); err != nil {
		return nil, err
	}
	if p.ResponseHeaders, err = headerRules("response-header", f.setResp, f.removeResp); err != nil {
		return nil, err
	}
	switch {
	case f.oauthProvider != "":
		p.OAuth = &policy.OAuth{Provider: f.oauthProvider, EmailDomains: f.oauthDomains, Emails: f.oauthAddress}
	case len(f.oauthDomains) > 0 || len(f.oauthAddress) > 0:
		return nil, fmt.Errorf("--oauth-email-domain and --oauth-email need --oauth-provider")
	}
	if len(p.BasicAuth)+len(p.IPAllow)+len(p.IPDeny)+len(p.RequestHeaders.Set)+len(p.RequestHeaders.Remove)+
		len(p.ResponseHeaders.Set)+len(p.ResponseHeaders.Remove) == 0 && p.OAuth == nil {
		return nil, nil
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func headerRules(flag string, set, remove []string) (policy.HeaderRules, error) {
	r := policy.HeaderRules{Remove: remove}
	for _, h := range set {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return r, fmt.Errorf("--%s %q: want \"Name: value\"", flag, h)
		}
		if r.Set == nil {
			r.Set = map[string]string{}
		}
		r.Set[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return r, nil
}
