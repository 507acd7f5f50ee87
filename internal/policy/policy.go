// Package policy is what a frontend does with a share's requests beyond
// routing them: who may reach it and which headers change. The controller
// stores a share's policy and sends it to the frontends as JSON in each
// mapping; both sides check it with Validate, and a frontend turns it into
// the form it enforces with Compile.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/http/httpguts"
)

// Policy is a share's access policy. The zero value lets everyone in.
//
// A frontend enforces it in this order: the client address (IPDeny, then
// IPAllow), then one login (BasicAuth or OAuth, never both), then the header
// rules. A request that passes a login reaches the share with the headers
// X-Portico-User (the user name or email) and X-Portico-Auth ("basic" or
// "oauth"); a client can never send those itself, as the frontend removes
// every X-Portico-* header it receives. The share sees neither the basic-auth
// credentials (Authorization) nor the frontend's login cookies.
type Policy struct {
	// BasicAuth, if set, admits only these users with HTTP basic auth.
	BasicAuth []User `json:"basic_auth,omitempty"`
	// OAuth, if set, admits only visitors who log in with this provider and
	// whose email passes its rules.
	OAuth *OAuth `json:"oauth,omitempty"`
	// IPAllow, if set, admits only clients whose address is in one of these
	// CIDRs (a bare address is a /32 or /128). IPDeny refuses clients in
	// its CIDRs and wins over IPAllow. Both act on the client address as
	// Caddy's trusted_proxies settings determine it.
	IPAllow []string `json:"ip_allow,omitempty"`
	IPDeny  []string `json:"ip_deny,omitempty"`
	// RequestHeaders change the request before it goes to the share;
	// ResponseHeaders change the share's answer. Values are literal: no
	// placeholder is expanded. The frame headers (Host, Content-Length,
	// Transfer-Encoding, Connection, …) cannot be changed, and request rules
	// cannot touch the X-Portico-* headers that the frontend sets.
	RequestHeaders  HeaderRules `json:"request_headers,omitzero"`
	ResponseHeaders HeaderRules `json:"response_headers,omitzero"`
}

// User is a basic-auth user. The password is stored only as a bcrypt hash.
type User struct {
	// Username is what the visitor types; it may not hold a colon.
	Username string `json:"username"`
	// PasswordHash is the bcrypt hash ($2a$, $2b$ or $2y$) of the password,
	// with a cost from MinBcryptCost to MaxBcryptCost.
	PasswordHash string `json:"password_hash"`
}

// OAuth admits visitors who log in with a provider the frontend has
// configured ("github", "google" or the name of a generic OIDC provider).
type OAuth struct {
	// Provider names the frontend's provider: lower-case letters, digits,
	// '-' and '_'.
	Provider string `json:"provider"`
	// EmailDomains and Emails admit a visitor whose verified email is in one
	// of the domains or in the list; with both empty, any logged-in visitor.
	// Domains match exactly ("example.com" does not admit
	// "a@sub.example.com"), and both compare without regard to case.
	EmailDomains []string `json:"email_domains,omitempty"`
	Emails       []string `json:"emails,omitempty"`
}

// HeaderRules set and remove headers. Remove runs first.
type HeaderRules struct {
	// Set maps a header name to the single value it gets, replacing any.
	Set map[string]string `json:"set,omitempty"`
	// Remove lists header names to delete.
	Remove []string `json:"remove,omitempty"`
}

// The bcrypt costs a policy may use. Below the minimum a leaked policy is
// cheap to crack; above the maximum each failed login (and every login the
// frontend has not cached yet) costs the shared frontend too much CPU: cost 12
// is about 0.2 s of one core, and each step doubles it.
const (
	MinBcryptCost = 10
	MaxBcryptCost = 12
)

// Bounds on one policy. Every frontend holds every policy in memory and
// receives it again with each change, so a policy is small: MaxBytes bounds
// its JSON as an account sends it, the counts bound each list, and no single
// name or value can hold the whole budget.
const (
	MaxBytes        = 32 << 10
	MaxUsers        = 100
	MaxAddressRules = 500 // each of ip_allow and ip_deny
	MaxHeaderRules  = 50  // each of set and remove, per direction
	MaxEmails       = 500
	MaxEmailDomains = 100
	MaxNameBytes    = 256  // a user name, header name, email or domain
	MaxValueBytes   = 4096 // a header value
)

// Parse decodes a policy. Unknown fields are errors, so that a frontend
// never silently ignores a rule it does not know.
func Parse(raw []byte) (Policy, error) {
	if len(raw) > MaxBytes {
		return Policy{}, fmt.Errorf("policy is %d bytes; at most %d", len(raw), MaxBytes)
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("decoding policy: %w", err)
	}
	if dec.More() {
		return Policy{}, errors.New("decoding policy: data after the JSON object")
	}
	return p, nil
}

// Validate reports every problem with p, each naming the field at fault.
func (p Policy) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	count := func(field string, n, limit int) {
		if n > limit {
			add("%s has %d entries; at most %d", field, n, limit)
		}
	}
	count("basic_auth", len(p.BasicAuth), MaxUsers)
	count("ip_allow", len(p.IPAllow), MaxAddressRules)
	count("ip_deny", len(p.IPDeny), MaxAddressRules)
	if len(errs) > 0 {
		return errors.Join(errs...) // not worth checking entry by entry
	}

	seen := map[string]bool{}
	for i, u := range p.BasicAuth {
		switch {
		case u.Username == "":
			add("basic_auth[%d]: username is empty", i)
		case len(u.Username) > MaxNameBytes:
			add("basic_auth[%d]: username is %d bytes; at most %d", i, len(u.Username), MaxNameBytes)
		case strings.ContainsRune(u.Username, ':'):
			add("basic_auth[%d]: username %q holds a colon, which basic auth cannot carry", i, u.Username)
		case strings.ContainsFunc(u.Username, isControl):
			add("basic_auth[%d]: username %q holds a control character", i, u.Username)
		case seen[u.Username]:
			add("basic_auth[%d]: username %q appears twice", i, u.Username)
		}
		seen[u.Username] = true
		if err := checkBcrypt(u.PasswordHash); err != nil {
			add("basic_auth[%d] (%s): password_hash %w", i, u.Username, err)
		}
	}
	if p.OAuth != nil {
		if len(p.BasicAuth) > 0 {
			add("basic_auth and oauth cannot both be set: a visitor logs in one way")
		}
		errs = append(errs, p.OAuth.validate()...)
	}
	for i, s := range p.IPAllow {
		if _, err := parsePrefix(s); err != nil {
			add("ip_allow[%d]: %w", i, err)
		}
	}
	for i, s := range p.IPDeny {
		if _, err := parsePrefix(s); err != nil {
			add("ip_deny[%d]: %w", i, err)
		}
	}
	errs = append(errs, p.RequestHeaders.validate("request_headers", true)...)
	errs = append(errs, p.ResponseHeaders.validate("response_headers", false)...)
	return errors.Join(errs...)
}

// RedactedHash stands for a password hash in what operators are shown.
const RedactedHash = "[redacted]"

// Redacted returns a policy as operators may see it, on a frontend's admin
// endpoint for one: with every password hash replaced by RedactedHash, so
// that a leaked listing gives nothing to crack. A policy that does not
// parse is shown as a string saying so; an empty one is nil.
func Redacted(raw []byte) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	p, err := Parse(raw)
	if err != nil {
		out, _ := json.Marshal(fmt.Sprintf("[a policy of %d bytes that does not parse]", len(raw)))
		return out
	}
	p.BasicAuth = slices.Clone(p.BasicAuth)
	for i := range p.BasicAuth {
		p.BasicAuth[i].PasswordHash = RedactedHash
	}
	out, _ := json.Marshal(p)
	return out
}

// Encode returns p as frontends receive it, refusing a policy that is
// larger than MaxBytes.
func (p Policy) Encode() ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxBytes {
		return nil, fmt.Errorf("policy is %d bytes as JSON; at most %d", len(raw), MaxBytes)
	}
	return raw, nil
}

func (o *OAuth) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := CheckProviderName(o.Provider); err != nil {
		add("oauth.provider: %w", err)
	}
	if len(o.EmailDomains) > MaxEmailDomains || len(o.Emails) > MaxEmails {
		add("oauth has %d email_domains and %d emails; at most %d and %d", len(o.EmailDomains), len(o.Emails), MaxEmailDomains, MaxEmails)
		return errs
	}
	for i, d := range o.EmailDomains {
		switch {
		case len(d) > MaxNameBytes:
			add("oauth.email_domains[%d] is %d bytes; at most %d", i, len(d), MaxNameBytes)
		case d == "":
			add("oauth.email_domains[%d] is empty", i)
		case strings.ContainsRune(d, '@'):
			add("oauth.email_domains[%d]: %q is a domain without '@', such as example.com", i, d)
		case strings.ContainsFunc(d, isSpaceOrControl) || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, "."):
			add("oauth.email_domains[%d]: %q is not a domain name", i, d)
		}
	}
	for i, e := range o.Emails {
		if len(e) > MaxNameBytes {
			add("oauth.emails[%d] is %d bytes; at most %d", i, len(e), MaxNameBytes)
			continue
		}
		local, domain, ok := strings.Cut(e, "@")
		if !ok || local == "" || domain == "" || strings.ContainsRune(domain, '@') || strings.ContainsFunc(e, isSpaceOrControl) {
			add("oauth.emails[%d]: %q is not an email address", i, e)
		}
	}
	return errs
}

// reservedHeaders cannot be changed by a policy: they frame the message or
// route it, and changing them could confuse the proxy or the client.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Upgrade": true, "Te": true, "Trailer": true, "Proxy-Connection": true,
}

// IdentityHeaderPrefix starts every header the frontend sets for the share:
// X-Portico-User and X-Portico-Auth. A client's own are removed.
const IdentityHeaderPrefix = "X-Portico-"

func (h HeaderRules) validate(field string, request bool) []error {
	var errs []error
	if len(h.Set) > MaxHeaderRules || len(h.Remove) > MaxHeaderRules {
		return []error{fmt.Errorf("%s has %d set and %d remove rules; at most %d of each", field, len(h.Set), len(h.Remove), MaxHeaderRules)}
	}
	check := func(where, name string) {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("%s: header name is empty", where))
		case len(name) > MaxNameBytes:
			errs = append(errs, fmt.Errorf("%s: header name is %d bytes; at most %d", where, len(name), MaxNameBytes))
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, fmt.Errorf("%s: %q is not a valid header name", where, name))
		case reservedHeaders[canon]:
			errs = append(errs, fmt.Errorf("%s: header %s cannot be changed by a policy", where, canon))
		case request && IsIdentityHeader(canon):
			errs = append(errs, fmt.Errorf("%s: header %s is set by the frontend alone", where, canon))
		}
	}
	for i, name := range h.Remove {
		check(fmt.Sprintf("%s.remove[%d]", field, i), name)
	}
	for _, name := range slices.Sorted(maps.Keys(h.Set)) {
		value := h.Set[name]
		where := fmt.Sprintf("%s.set[%q]", field, name)
		check(where, name)
		if len(value) > MaxValueBytes {
			errs = append(errs, fmt.Errorf("%s: the value is %d bytes; at most %d", where, len(value), MaxValueBytes))
		} else if !httpguts.ValidHeaderFieldValue(value) {
			errs = append(errs, fmt.Errorf("%s: the value holds a control character", where))
		}
	}
	return errs
}

// IsIdentityHeader reports whether name (in canonical form or not) is one of
// the X-Portico-* headers that only the frontend may set.
func IsIdentityHeader(name string) bool {
	return len(name) >= len(IdentityHeaderPrefix) && strings.EqualFold(name[:len(IdentityHeaderPrefix)], IdentityHeaderPrefix)
}

// StripIdentityHeaders removes every X-Portico-* header, so that a client can
// never pass for a logged-in visitor. It does not allocate.
func StripIdentityHeaders(h http.Header) {
	for name := range h {
		if IsIdentityHeader(name) {
			delete(h, name)
		}
	}
}

// checkBcrypt says what is wrong with a password hash, if anything.
func checkBcrypt(hash string) error {
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
		return errors.New("is not a bcrypt hash (want $2a$, $2b$ or $2y$…); hash the password, never send it")
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || len(hash) != 60 {
		return errors.New("is not a well-formed bcrypt hash")
	}
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return fmt.Errorf("has bcrypt cost %d; want %d to %d", cost, MinBcryptCost, MaxBcryptCost)
	}
	return nil
}

// parsePrefix parses a CIDR or a bare address, in the form the client's
// address is compared in: masked, and IPv4-mapped IPv6 as IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.ContainsRune(s, '/') {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %v", s, err)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: an address with a zone cannot be matched", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CheckProviderName says what is wrong with the name of an OAuth provider,
// as a policy names it and a frontend configures it.
func CheckProviderName(name string) error {
	if name == "" {
		return errors.New(`the provider name is empty: name one the frontend configures ("github", "google" or a generic OIDC provider)`)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("provider name %q: want lower-case letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func isSpaceOrControl(r rune) bool { return r == ' ' || r == '\t' || isControl(r) }
