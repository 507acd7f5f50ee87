package service

// Custom domains: an account's own names for its reserved shares, served
// once a TXT record proves the account controls them.

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
)

// ChallengePrefix is the label under which a domain's TXT record proves
// that the account controls it: _portico-challenge.<domain>.
const ChallengePrefix = "_portico-challenge."

// reservedShare returns one of the account's shares that can take a custom
// domain: a public, reserved one.
func (s *Service) reservedShare(ctx context.Context, accountID, token string) (store.Share, error) {
	sh, err := s.store.Share(ctx, accountID, token)
	if err != nil {
		return sh, err
	}
	if !sh.Reserved || sh.ShareMode != "public" {
		return sh, invalid("custom domains attach to public reserved shares; " + sh.Token + " is not one (see portico reserve)")
	}
	return sh, nil
}

// AddDomain attaches a domain to one of the account's reserved shares,
// unverified, with a fresh challenge for its TXT record.
func (s *Service) AddDomain(ctx context.Context, accountID, shareToken, domain string) (store.Domain, error) {
	sh, err := s.reservedShare(ctx, accountID, shareToken)
	if err != nil {
		return store.Domain{}, err
	}
	name := strings.ToLower(strings.TrimSuffix(domain, "."))
	if err := validDNSName(name); err != nil || !strings.Contains(name, ".") {
		return store.Domain{}, invalid("domain " + quote(domain) + " is not a fully qualified domain name, like app.example.org")
	}
	if err := s.outsideNamespaces(ctx, name); err != nil {
		return store.Domain{}, err
	}
	d := store.Domain{Name: name, ShareToken: sh.Token, Challenge: "portico-verify=" + token.New(32), CreatedAt: now()}
	return d, s.store.AddDomain(ctx, d)
}

// outsideNamespaces refuses a domain that is a namespace or inside one:
// the namespace's own names are for its shares.
func (s *Service) outsideNamespaces(ctx context.Context, name string) error {
	nss, err := s.store.Namespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if name == ns.Name || strings.HasSuffix(name, "."+ns.Name) {
			return forbidden("domain " + name + " is inside namespace " + ns.Name + "; reserve a name there instead")
		}
	}
	return nil
}

// Domains lists the custom domains of one of the account's shares.
func (s *Service) Domains(ctx context.Context, accountID, shareToken string) ([]store.Domain, error) {
	sh, err := s.store.Share(ctx, accountID, shareToken)
	if err != nil {
		return nil, err
	}
	return s.store.Domains(ctx, sh.Token)
}

// VerifyDomain looks for the domain's challenge in DNS and, once it is
// there, maps the domain on the frontends of the share's namespace. A
// challenge not found yet is ErrUnverified, saying what DNS holds.
func (s *Service) VerifyDomain(ctx context.Context, accountID, shareToken, domain string) (store.Domain, error) {
	sh, err := s.reservedShare(ctx, accountID, shareToken)
	if err != nil {
		return store.Domain{}, err
	}
	d, err := s.store.Domain(ctx, sh.Token, strings.ToLower(domain))
	if err != nil || d.Verified() {
		return d, err
	}
	// A namespace may have been made around the domain since it was added.
	if err := s.outsideNamespaces(ctx, d.Name); err != nil {
		return d, err
	}
	if err := s.checkChallenge(ctx, d); err != nil {
		return d, err
	}
	changes, err := s.store.VerifyDomain(ctx, sh, d.Name)
	if err != nil {
		return d, err
	}
	s.pub.Publish(changes)
	return s.store.Domain(ctx, sh.Token, d.Name)
}

// checkChallenge says, in words a user can act on, why the domain's TXT
// record does not prove control yet.
func (s *Service) checkChallenge(ctx context.Context, d store.Domain) error {
	name := ChallengePrefix + d.Name
	// Fully qualified, so that the resolver's search domains are never tried.
	txts, err := s.resolver.LookupTXT(ctx, name+".")
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return rejection{ErrUnverified, "no TXT record at " + name + " yet; add one with the value " + quote(d.Challenge) + " and try again once DNS has it"}
	case err != nil:
		return rejection{ErrUnverified, "looking up the TXT record at " + name + ": " + err.Error()}
	case !slices.Contains(txts, d.Challenge):
		quoted := make([]string, len(txts))
		for i, t := range txts {
			quoted[i] = quote(t)
		}
		return rejection{ErrUnverified, "the TXT record at " + name + " holds " + strings.Join(quoted, ", ") + ", not " + quote(d.Challenge)}
	}
	return nil
}

// DeleteDomain detaches a custom domain from one of the account's shares.
func (s *Service) DeleteDomain(ctx context.Context, accountID, shareToken, domain string) error {
	sh, err := s.store.Share(ctx, accountID, shareToken)
	if err != nil {
		return err
	}
	changes, err := s.store.DeleteDomain(ctx, sh.Token, strings.ToLower(domain))
	if err != nil {
		return err
	}
	s.pub.Publish(changes)
	return nil
}
