package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
)

// ChallengePrefix is the label under which a domain's TXT record proves
// that the account controls it: _portico-challenge.<domain>.
const ChallengePrefix = "_portico-challenge."

// Resolver looks up the TXT records that prove control of a domain.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DomainView is a custom domain as the API shows it, with what to publish
// in DNS to verify it.
type DomainView struct {
	store.Domain
	Verified bool   `json:"verified"`
	TXTName  string `json:"txt_name"`
	TXTValue string `json:"txt_value"`
}

func domainView(d store.Domain) DomainView {
	return DomainView{Domain: d, Verified: d.Verified(), TXTName: ChallengePrefix + d.Name, TXTValue: d.Challenge}
}

type addDomainRequest struct {
	Domain string `json:"domain"`
}

// reservedShare returns one of the caller's shares that can take a custom
// domain: a public, reserved one.
func (a *API) reservedShare(r *http.Request) (store.Share, error) {
	sh, err := a.store.Share(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		return sh, err
	}
	if !sh.Reserved || sh.ShareMode != "public" {
		return sh, inputError("custom domains attach to public reserved shares; " + sh.Token + " is not one (see portico reserve)")
	}
	return sh, nil
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request) {
	var req addDomainRequest
	if !decode(w, r, &req) {
		return
	}
	sh, err := a.reservedShare(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	name := strings.ToLower(strings.TrimSuffix(req.Domain, "."))
	if err := validDNSName(name); err != nil || !strings.Contains(name, ".") {
		a.fail(w, inputError("domain "+quote(req.Domain)+" is not a fully qualified domain name, like app.example.org"))
		return
	}
	if err := a.outsideNamespaces(r.Context(), name); err != nil {
		a.fail(w, err)
		return
	}
	d := store.Domain{Name: name, ShareToken: sh.Token, Challenge: "portico-verify=" + token.New(32), CreatedAt: now()}
	if err := a.store.AddDomain(r.Context(), d); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, domainView(d))
}

// outsideNamespaces refuses a domain that is a namespace or inside one:
// the namespace's own names are for its shares.
func (a *API) outsideNamespaces(ctx context.Context, name string) error {
	nss, err := a.store.Namespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if name == ns.Name || strings.HasSuffix(name, "."+ns.Name) {
			return forbiddenError("domain " + name + " is inside namespace " + ns.Name + "; reserve a name there instead")
		}
	}
	return nil
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) {
	sh, err := a.store.Share(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	ds, err := a.store.Domains(r.Context(), sh.Token)
	if err != nil {
		a.fail(w, err)
		return
	}
	views := make([]DomainView, 0, len(ds))
	for _, d := range ds {
		views = append(views, domainView(d))
	}
	writeJSON(w, http.StatusOK, views)
}

// verifyDomain looks for the domain's challenge in DNS and, once it is
// there, maps the domain on the frontends of the share's namespace.
func (a *API) verifyDomain(w http.ResponseWriter, r *http.Request) {
	sh, err := a.reservedShare(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	d, err := a.store.Domain(r.Context(), sh.Token, strings.ToLower(r.PathValue("domain")))
	if err != nil {
		a.fail(w, err)
		return
	}
	if !d.Verified() {
		// A namespace may have been made around the domain since it was added.
		if err := a.outsideNamespaces(r.Context(), d.Name); err != nil {
			a.fail(w, err)
			return
		}
		if err := a.checkChallenge(r.Context(), d); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "unverified", err.Error())
			return
		}
		changes, err := a.store.VerifyDomain(r.Context(), sh, d.Name)
		if err != nil {
			a.fail(w, err)
			return
		}
		a.pub.Publish(changes)
		if d, err = a.store.Domain(r.Context(), sh.Token, d.Name); err != nil {
			a.fail(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, domainView(d))
}

// checkChallenge says, in words a user can act on, why the domain's TXT
// record does not prove control yet.
func (a *API) checkChallenge(ctx context.Context, d store.Domain) error {
	name := ChallengePrefix + d.Name
	// Fully qualified, so that the resolver's search domains are never tried.
	txts, err := a.cfg.Resolver.LookupTXT(ctx, name+".")
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return errors.New("no TXT record at " + name + " yet; add one with the value " + quote(d.Challenge) + " and try again once DNS has it")
	case err != nil:
		return errors.New("looking up the TXT record at " + name + ": " + err.Error())
	case !slices.Contains(txts, d.Challenge):
		return errors.New("the TXT record at " + name + " holds " + strings.Join(quoteAll(txts), ", ") + ", not " + quote(d.Challenge))
	}
	return nil
}

func (a *API) deleteDomain(w http.ResponseWriter, r *http.Request) {
	sh, err := a.store.Share(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	changes, err := a.store.DeleteDomain(r.Context(), sh.Token, strings.ToLower(r.PathValue("domain")))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	w.WriteHeader(http.StatusNoContent)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}
