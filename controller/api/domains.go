package api

// Handlers of the calls on a reserved share's custom domains.

import (
	"net/http"

	"github.com/porticoproxy/portico/controller/service"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/apitypes"
)

// domainView is a custom domain with what to publish in DNS to verify it.
func domainView(d store.Domain) apitypes.Domain {
	return apitypes.Domain{Name: d.Name, Share: d.ShareToken, Verified: d.Verified(),
		TXTName: service.ChallengePrefix + d.Name, TXTValue: d.Challenge, CreatedAt: d.CreatedAt}
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request) {
	var req apitypes.DomainRequest
	if !decode(w, r, &req) {
		return
	}
	d, err := a.svc.AddDomain(r.Context(), accountOf(r).ID, r.PathValue("token"), req.Domain)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, domainView(d))
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) {
	ds, err := a.svc.Domains(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(ds, domainView))
}

// verifyDomain checks the domain's TXT record and, once it proves control,
// maps the domain.
func (a *API) verifyDomain(w http.ResponseWriter, r *http.Request) {
	d, err := a.svc.VerifyDomain(r.Context(), accountOf(r).ID, r.PathValue("token"), r.PathValue("domain"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, domainView(d))
}

func (a *API) deleteDomain(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteDomain(r.Context(), accountOf(r).ID, r.PathValue("token"), r.PathValue("domain")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
