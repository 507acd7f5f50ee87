package api

import (
	"net/http"
	"net/mail"
	"strings"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

type createAccountRequest struct {
	Email string `json:"email"`
}

type createAccountResponse struct {
	store.Account
	Token string `json:"token"`
}

// checkEmail refuses what is not a bare email address.
func checkEmail(email string) error {
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return inputError("email " + quote(email) + " is not an email address")
	}
	return nil
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request) {
	var req createAccountRequest
	if !decode(w, r, &req) {
		return
	}
	if err := checkEmail(req.Email); err != nil {
		a.fail(w, err)
		return
	}
	acct := store.Account{ID: token.New(12), Email: req.Email, CreatedAt: now()}
	tok := token.New(32)
	if err := a.store.CreateAccount(r.Context(), acct, token.Hash(tok)); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, createAccountResponse{Account: acct, Token: tok})
}

type createNamespaceRequest struct {
	Name string `json:"name"`
	// Open lets every account share in the namespace (the default); a
	// closed one takes only the accounts granted it.
	Open *bool `json:"open"`
}

func (a *API) createNamespace(w http.ResponseWriter, r *http.Request) {
	var req createNamespaceRequest
	if !decode(w, r, &req) {
		return
	}
	name := strings.ToLower(strings.TrimSuffix(req.Name, "."))
	if err := validDNSName(name); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "namespace: "+err.Error())
		return
	}
	ns := store.Namespace{ID: token.New(12), Name: name, Open: req.Open == nil || *req.Open, CreatedAt: now()}
	if err := a.store.CreateNamespace(r.Context(), ns); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ns)
}

type grantNamespaceRequest struct {
	Email string `json:"email"`
}

// grantNamespace lets an account share in a closed namespace.
func (a *API) grantNamespace(w http.ResponseWriter, r *http.Request) {
	var req grantNamespaceRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Email == "" {
		a.fail(w, inputError("email is required: the account to grant the namespace to"))
		return
	}
	ns := strings.ToLower(r.PathValue("name"))
	if err := a.store.GrantNamespace(r.Context(), ns, req.Email); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"namespace": ns, "email": req.Email})
}

func (a *API) listNamespaces(w http.ResponseWriter, r *http.Request) {
	nss, err := a.store.Namespaces(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(nss))
}

type createFrontendRequest struct {
	Description string `json:"description"`
	// URLTemplate says how users reach a host through this frontend.
	URLTemplate string `json:"url_template"`
}

type createFrontendResponse struct {
	store.Frontend
	Secret        string `json:"secret"`
	EnrollmentJWT string `json:"enrollment_jwt"`
}

func (a *API) createFrontend(w http.ResponseWriter, r *http.Request) {
	var req createFrontendRequest
	if !decode(w, r, &req) {
		return
	}
	if req.URLTemplate == "" {
		req.URLTemplate = "https://{host}"
	}
	if err := validURLTemplate(req.URLTemplate); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	f := store.Frontend{ID: token.New(12), Description: req.Description, URLTemplate: req.URLTemplate, CreatedAt: now(), Namespaces: []string{}}
	secret := token.New(32)
	f.SecretHash = token.Hash(secret)
	jwt, err := a.withIdentity(r.Context(), "portico-frontend-"+f.ID, []string{zitiauto.RoleFrontend},
		map[string]string{"portico": "frontend", "porticoFrontend": f.ID},
		func(id string) error {
			f.ZitiIdentityID = id
			return a.store.CreateFrontend(r.Context(), f)
		})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, createFrontendResponse{Frontend: f, Secret: secret, EnrollmentJWT: jwt})
}

func (a *API) listFrontends(w http.ResponseWriter, r *http.Request) {
	fs, err := a.store.Frontends(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	for i := range fs {
		fs[i].Namespaces = orEmpty(fs[i].Namespaces)
	}
	writeJSON(w, http.StatusOK, orEmpty(fs))
}

type mapNamespaceRequest struct {
	Namespace string `json:"namespace"`
}

func (a *API) mapNamespace(w http.ResponseWriter, r *http.Request) {
	var req mapNamespaceRequest
	if !decode(w, r, &req) {
		return
	}
	ctx := r.Context()
	changes, err := a.store.MapNamespace(ctx, r.PathValue("token"), strings.ToLower(req.Namespace))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	// The frontend may dial the namespace's shares once its identity has
	// the namespace's role; if the overlay does not answer now, the
	// reconciler gives it the role.
	if err := SyncFrontendRoles(ctx, a.store, a.ziti, r.PathValue("token")); err != nil {
		a.logger.Warn("mapped the namespace, but could not give the frontend its role yet; the reconciler will",
			zap.String("frontend", r.PathValue("token")), zap.Error(err))
	}
	writeJSON(w, http.StatusCreated, map[string]any{"frontend": r.PathValue("token"), "namespace": req.Namespace, "mapped_shares": len(changes)})
}
