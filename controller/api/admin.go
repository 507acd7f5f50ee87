package api

// Handlers of the admin's calls: accounts, namespaces, frontends, and what
// the cluster runs.

import (
	"net/http"
	"time"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/apitypes"
)

func (a *API) createAccount(w http.ResponseWriter, r *http.Request) {
	var req apitypes.AccountRequest
	if !decode(w, r, &req) {
		return
	}
	acct, tok, err := a.svc.CreateAccount(r.Context(), req.Email)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitypes.Account{ID: acct.ID, Email: acct.Email, CreatedAt: acct.CreatedAt, Token: tok})
}

func (a *API) createNamespace(w http.ResponseWriter, r *http.Request) {
	var req apitypes.NamespaceRequest
	if !decode(w, r, &req) {
		return
	}
	ns, err := a.svc.CreateNamespace(r.Context(), req.Name, req.Open == nil || *req.Open)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, namespaceView(ns))
}

func namespaceView(ns store.Namespace) apitypes.Namespace {
	return apitypes.Namespace{ID: ns.ID, Name: ns.Name, Open: ns.Open, CreatedAt: ns.CreatedAt}
}

// grantNamespace lets an account share in a closed namespace.
func (a *API) grantNamespace(w http.ResponseWriter, r *http.Request) {
	var req apitypes.GrantRequest
	if !decode(w, r, &req) {
		return
	}
	ns, err := a.svc.GrantNamespace(r.Context(), r.PathValue("name"), req.Email)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitypes.Grant{Namespace: ns, Email: req.Email})
}

func (a *API) listNamespaces(w http.ResponseWriter, r *http.Request) {
	nss, err := a.store.Namespaces(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(nss, namespaceView))
}

func (a *API) createFrontend(w http.ResponseWriter, r *http.Request) {
	var req apitypes.FrontendRequest
	if !decode(w, r, &req) {
		return
	}
	f, err := a.svc.CreateFrontend(r.Context(), req.Description, req.URLTemplate)
	if err != nil {
		a.fail(w, err)
		return
	}
	v := frontendView(f.Frontend)
	v.Secret, v.EnrollmentJWT = f.Secret, f.EnrollmentJWT
	writeJSON(w, http.StatusCreated, v)
}

func frontendView(f store.Frontend) apitypes.Frontend {
	return apitypes.Frontend{Token: f.ID, Description: f.Description, URLTemplate: f.URLTemplate, Revision: f.Revision,
		Namespaces: orEmpty(f.Namespaces), ZitiIdentityID: f.ZitiIdentityID, CreatedAt: f.CreatedAt}
}

func (a *API) listFrontends(w http.ResponseWriter, r *http.Request) {
	fs, err := a.store.Frontends(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(fs, frontendView))
}

func (a *API) mapNamespace(w http.ResponseWriter, r *http.Request) {
	var req apitypes.MapNamespaceRequest
	if !decode(w, r, &req) {
		return
	}
	n, err := a.svc.MapNamespace(r.Context(), r.PathValue("token"), req.Namespace)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, apitypes.MappedNamespace{Frontend: r.PathValue("token"), Namespace: req.Namespace, MappedShares: n})
}

const (
	// controllerTTL is how long a controller stays listed after its last
	// heartbeat (it heartbeats every 3 s).
	controllerTTL = 10 * time.Second
	// instanceTTL is how long a frontend instance stays listed after its
	// last heartbeat (it heartbeats every 5 s).
	instanceTTL = 15 * time.Second
)

// listControllers lists the live controllers, so that clients can fail over.
func (a *API) listControllers(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.Controllers(r.Context(), time.Now().UTC().Add(-controllerTTL))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(cs, func(c store.Controller) apitypes.Controller { return apitypes.Controller(c) }))
}

// listInstances lists the live frontend instances and how far behind each is.
func (a *API) listInstances(w http.ResponseWriter, r *http.Request) {
	ins, err := a.store.Instances(r.Context(), time.Now().UTC().Add(-instanceTTL))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(ins, func(in store.Instance) apitypes.Instance { return apitypes.Instance(in) }))
}

// listLeases says which controller runs each singleton worker.
func (a *API) listLeases(w http.ResponseWriter, r *http.Request) {
	ls, err := a.store.Leases(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, views(ls, func(l store.Lease) apitypes.Lease { return apitypes.Lease(l) }))
}

// views converts store records to what the API shows, never null.
func views[S, V any](records []S, view func(S) V) []V {
	out := make([]V, len(records))
	for i, r := range records {
		out[i] = view(r)
	}
	return out
}
