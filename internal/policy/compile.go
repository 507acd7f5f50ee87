package policy

import (
	"bytes"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Compiled is a policy in the form a frontend enforces: addresses parsed,
// header names canonical, emails lower-cased. It is built once per mapping
// change and is safe for concurrent use.
type Compiled struct {
	allow, deny []netip.Prefix
	users       []user
	dummyCost   int // the cost of the dummy compare for an unknown user
	logins      *loginCache
	oauth       *OAuthRule
	request     headerOps
	response    headerOps
}

// OAuthRule is the compiled oauth part of a policy.
type OAuthRule struct {
	// Provider names the frontend's provider.
	Provider string
	domains  []string
	emails   []string
}

type headerOps struct {
	remove []string
	set    []headerField
}

type headerField struct{ name, value string }

// Compile parses, validates and compiles a policy. Empty input, null and a
// policy that does nothing compile to nil: no policy.
func Compile(raw []byte) (*Compiled, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	p, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return p.Compile()
}

// Compile validates p and compiles it; see the package function Compile.
func (p Policy) Compile() (*Compiled, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{}
	for _, s := range p.IPAllow {
		pfx, _ := parsePrefix(s) // validated
		c.allow = append(c.allow, pfx)
	}
	for _, s := range p.IPDeny {
		pfx, _ := parsePrefix(s)
		c.deny = append(c.deny, pfx)
	}
	if len(p.BasicAuth) > 0 {
		c.compileUsers(p.BasicAuth)
	}
	if o := p.OAuth; o != nil {
		c.oauth = &OAuthRule{Provider: o.Provider}
		for _, d := range o.EmailDomains {
			c.oauth.domains = append(c.oauth.domains, strings.ToLower(d))
		}
		for _, e := range o.Emails {
			c.oauth.emails = append(c.oauth.emails, strings.ToLower(e))
		}
	}
	c.request = compileHeaders(p.RequestHeaders)
	c.response = compileHeaders(p.ResponseHeaders)
	if c.isZero() {
		return nil, nil
	}
	return c, nil
}

func (c *Compiled) isZero() bool {
	return len(c.allow) == 0 && len(c.deny) == 0 && len(c.users) == 0 && c.oauth == nil &&
		c.request.isZero() && c.response.isZero()
}

func compileHeaders(h HeaderRules) headerOps {
	var ops headerOps
	for _, name := range h.Remove {
		ops.remove = append(ops.remove, http.CanonicalHeaderKey(name))
	}
	for name, value := range h.Set {
		ops.set = append(ops.set, headerField{http.CanonicalHeaderKey(name), value})
	}
	slices.SortFunc(ops.set, func(a, b headerField) int { return strings.Compare(a.name, b.name) })
	return ops
}

func (o headerOps) isZero() bool { return len(o.remove) == 0 && len(o.set) == 0 }

func (o headerOps) apply(h http.Header) {
	for _, name := range o.remove {
		delete(h, name)
	}
	for _, f := range o.set {
		h[f.name] = []string{f.value}
	}
}

// FiltersAddresses reports whether the policy admits clients by address.
func (c *Compiled) FiltersAddresses() bool { return len(c.allow) > 0 || len(c.deny) > 0 }

// AllowsAddress reports whether a client at addr may pass: it is in no
// denied range and, if there are allowed ranges, in one of them.
func (c *Compiled) AllowsAddress(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range c.deny {
		if p.Contains(addr) {
			return false
		}
	}
	if len(c.allow) == 0 {
		return true
	}
	for _, p := range c.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RequiresBasicAuth reports whether visitors log in with HTTP basic auth.
func (c *Compiled) RequiresBasicAuth() bool { return len(c.users) > 0 }

// OAuth returns the oauth rule, or nil if visitors do not log in that way.
func (c *Compiled) OAuth() *OAuthRule { return c.oauth }

// AllowsEmail reports whether a visitor with this verified email may pass.
func (o *OAuthRule) AllowsEmail(email string) bool {
	if len(o.domains) == 0 && len(o.emails) == 0 {
		return true
	}
	email = strings.ToLower(email)
	if slices.Contains(o.emails, email) {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	return at > 0 && slices.Contains(o.domains, email[at+1:])
}

// RewriteRequest applies the request header rules to h.
func (c *Compiled) RewriteRequest(h http.Header) { c.request.apply(h) }

// RewritesResponse reports whether there are response header rules.
func (c *Compiled) RewritesResponse() bool { return !c.response.isZero() }

// RewriteResponse applies the response header rules to h.
func (c *Compiled) RewriteResponse(h http.Header) { c.response.apply(h) }
