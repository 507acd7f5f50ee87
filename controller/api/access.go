package api

// Handlers of the calls on private shares: accesses and grants.

import (
	"net/http"

	"github.com/porticoproxy/portico/internal/apitypes"
)

// createAccess lets an environment's identity dial a private share.
func (a *API) createAccess(w http.ResponseWriter, r *http.Request) {
	var req apitypes.AccessRequest
	if !decode(w, r, &req) {
		return
	}
	acc, sh, err := a.svc.CreateAccess(r.Context(), accountOf(r), r.PathValue("token"), req.EnvironmentID)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitypes.Access{ID: acc.ID, ShareToken: acc.ShareToken, EnvironmentID: acc.EnvironmentID,
		BackendMode: sh.BackendMode, CreatedAt: acc.CreatedAt})
}

// deleteAccess ends one access.
func (a *API) deleteAccess(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteAccess(r.Context(), accountOf(r).ID, r.PathValue("token"), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteEnvironmentAccesses ends every access of one environment to a share.
func (a *API) deleteEnvironmentAccesses(w http.ResponseWriter, r *http.Request) {
	n, err := a.svc.DeleteEnvironmentAccesses(r.Context(), accountOf(r).ID, r.PathValue("token"), r.URL.Query().Get("environment_id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, apitypes.Removed{Removed: n})
}

// grantShare lets an account access one of the caller's closed shares.
func (a *API) grantShare(w http.ResponseWriter, r *http.Request) {
	var req apitypes.GrantRequest
	if !decode(w, r, &req) {
		return
	}
	sh, err := a.svc.GrantShare(r.Context(), accountOf(r).ID, r.PathValue("token"), req.Email)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitypes.Grant{Share: sh.Token, Email: req.Email})
}
