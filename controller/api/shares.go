package api

// Handlers of an account's calls on its environments, shares and their
// agents.

import (
	"context"
	"net/http"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/apitypes"
)

func environmentView(e store.Environment) apitypes.Environment {
	return apitypes.Environment{ID: e.ID, Description: e.Description, Host: e.Host, CreatedAt: e.CreatedAt}
}

func (a *API) createEnvironment(w http.ResponseWriter, r *http.Request) {
	var req apitypes.EnvironmentRequest
	if !decode(w, r, &req) {
		return
	}
	env, jwt, err := a.svc.CreateEnvironment(r.Context(), accountOf(r), req.Description, req.Host)
	if err != nil {
		a.fail(w, err)
		return
	}
	v := environmentView(env)
	v.EnrollmentJWT = jwt
	writeJSON(w, http.StatusCreated, v)
}

func (a *API) listEnvironments(w http.ResponseWriter, r *http.Request) {
	envs, err := a.store.Environments(r.Context(), accountOf(r).ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(envs, environmentView))
}

func (a *API) deleteEnvironment(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteEnvironment(r.Context(), accountOf(r).ID, r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) createShare(w http.ResponseWriter, r *http.Request) {
	var req apitypes.ShareRequest
	if !decode(w, r, &req) {
		return
	}
	sh, err := a.svc.CreateShare(r.Context(), accountOf(r), req)
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := a.shareView(r.Context(), sh)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// shareView is a share as the API shows it, with the URLs that reach it.
func (a *API) shareView(ctx context.Context, sh store.Share) (apitypes.Share, error) {
	urls, err := a.svc.Endpoints(ctx, sh)
	if err != nil {
		return apitypes.Share{}, err
	}
	v := apitypes.Share{Token: sh.Token, EnvironmentID: sh.EnvironmentID, Namespace: sh.Namespace, Name: sh.Name,
		ShareMode: sh.ShareMode, BackendMode: sh.BackendMode, Target: sh.Target, Reserved: sh.Reserved, Closed: sh.Closed,
		Policy: sh.Policy, FrontendEndpoints: urls, CreatedAt: sh.CreatedAt}
	if sh.ShareMode == "public" {
		v.Host = sh.Host()
	}
	return v, nil
}

func (a *API) listShares(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := pageRequest(w, r)
	if !ok {
		return
	}
	shares, next, err := a.store.Shares(r.Context(), accountOf(r).ID, after, limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]apitypes.Share, 0, len(shares))
	for _, sh := range shares {
		v, err := a.shareView(r.Context(), sh)
		if err != nil {
			a.fail(w, err)
			return
		}
		out = append(out, v)
	}
	setNextPage(w, r, limit, next)
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getShare(w http.ResponseWriter, r *http.Request) {
	sh, err := a.store.Share(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := a.shareView(r.Context(), sh)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) deleteShare(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteShare(r.Context(), accountOf(r).ID, r.PathValue("token")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// addAgent records an agent serving a share.
func (a *API) addAgent(w http.ResponseWriter, r *http.Request) {
	var req apitypes.AgentRequest
	if !decode(w, r, &req) {
		return
	}
	if err := a.svc.AddAgent(r.Context(), accountOf(r).ID, r.PathValue("token"), req.ID, req.Target); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeAgent takes an agent out of its share's rotation.
func (a *API) removeAgent(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.RemoveAgent(r.Context(), accountOf(r).ID, r.PathValue("token"), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
