package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

// shareTokenLength is long enough to be unguessable and short enough for a
// readable host name.
const shareTokenLength = 12

type createEnvironmentRequest struct {
	Description string `json:"description"`
	Host        string `json:"host"`
}

type createEnvironmentResponse struct {
	store.Environment
	// EnrollmentJWT is enrolled by the agent on its own machine, so the
	// identity's private key never leaves it.
	EnrollmentJWT string `json:"enrollment_jwt"`
}

func (a *API) createEnvironment(w http.ResponseWriter, r *http.Request) {
	var req createEnvironmentRequest
	if !decode(w, r, &req) {
		return
	}
	acct := accountOf(r)
	env := store.Environment{ID: token.New(12), AccountID: acct.ID, Description: req.Description, Host: req.Host, CreatedAt: now()}
	jwt, err := a.withIdentity(r.Context(), "portico-env-"+env.ID, zitiauto.RoleEnvironment,
		map[string]string{"portico": "environment", "porticoEnvironment": env.ID, "porticoAccount": acct.ID},
		func(id string) error {
			env.ZitiIdentityID = id
			return a.store.CreateEnvironment(r.Context(), env)
		})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, createEnvironmentResponse{Environment: env, EnrollmentJWT: jwt})
}

func (a *API) listEnvironments(w http.ResponseWriter, r *http.Request) {
	envs, err := a.store.Environments(r.Context(), accountOf(r).ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(envs))
}

func (a *API) deleteEnvironment(w http.ResponseWriter, r *http.Request) {
	acct := accountOf(r)
	env, err := a.store.Environment(r.Context(), acct.ID, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	shares, changes, err := a.store.DeleteEnvironment(r.Context(), acct.ID, env.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	for _, sh := range shares {
		a.undo("share service "+sh.Token, a.ziti.DeleteShareService(r.Context(), sh.Token))
	}
	a.undo("environment identity", a.ziti.DeleteIdentity(r.Context(), env.ZitiIdentityID))
	w.WriteHeader(http.StatusNoContent)
}

type createShareRequest struct {
	EnvironmentID string `json:"environment_id"`
	ShareMode     string `json:"share_mode"`
	BackendMode   string `json:"backend_mode"`
	Target        string `json:"target"`
	Namespace     string `json:"namespace"`
}

// ShareView is a share as the API shows it.
type ShareView struct {
	store.Share
	Host string `json:"host"`
	// FrontendEndpoints are the URLs at which the share is reachable.
	FrontendEndpoints []string `json:"frontend_endpoints"`
}

func (a *API) createShare(w http.ResponseWriter, r *http.Request) {
	var req createShareRequest
	if !decode(w, r, &req) {
		return
	}
	if req.ShareMode == "" {
		req.ShareMode = "public"
	}
	if req.BackendMode == "" {
		req.BackendMode = "proxy"
	}
	switch {
	case req.ShareMode != "public":
		writeError(w, http.StatusBadRequest, "bad_request", "share_mode "+quote(req.ShareMode)+" is not supported; use \"public\"")
		return
	case req.BackendMode != "proxy":
		writeError(w, http.StatusBadRequest, "bad_request", "backend_mode "+quote(req.BackendMode)+" is not supported; use \"proxy\"")
		return
	case req.EnvironmentID == "":
		writeError(w, http.StatusBadRequest, "bad_request", "environment_id is required")
		return
	}
	if err := validTarget(req.Target); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ctx := r.Context()
	acct := accountOf(r)
	env, err := a.store.Environment(ctx, acct.ID, req.EnvironmentID)
	if err != nil {
		a.fail(w, err)
		return
	}
	ns, err := a.namespaceFor(ctx, req.Namespace)
	if err != nil {
		a.fail(w, err)
		return
	}
	sh := store.Share{
		Token: token.New(shareTokenLength), AccountID: acct.ID, EnvironmentID: env.ID, NamespaceID: ns.ID, Namespace: ns.Name,
		ShareMode: req.ShareMode, BackendMode: req.BackendMode, Target: req.Target, CreatedAt: now(),
	}
	sh.Name = sh.Token // an ephemeral share is named by its token
	if sh.ZitiServiceID, err = a.ziti.CreateShareService(ctx, sh.Token, env.ZitiIdentityID, []string{"#" + zitiauto.RoleFrontend}); err != nil {
		a.fail(w, err)
		return
	}
	changes, err := a.store.CreateShare(ctx, sh)
	if err != nil {
		a.undo("share service "+sh.Token, a.ziti.DeleteShareService(context.WithoutCancel(ctx), sh.Token))
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	view, err := a.view(ctx, sh)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, view)
}

// namespaceFor resolves the namespace a share asks for; with none named, the
// only namespace there is.
func (a *API) namespaceFor(ctx context.Context, name string) (store.Namespace, error) {
	if name != "" {
		return a.store.NamespaceByName(ctx, strings.ToLower(name))
	}
	nss, err := a.store.Namespaces(ctx)
	if err != nil {
		return store.Namespace{}, err
	}
	if len(nss) != 1 {
		return store.Namespace{}, inputError("namespace is required: the controller has " + strconv.Itoa(len(nss)) + " namespaces")
	}
	return nss[0], nil
}

func (a *API) view(ctx context.Context, sh store.Share) (ShareView, error) {
	fs, err := a.store.NamespaceFrontends(ctx, sh.NamespaceID)
	if err != nil {
		return ShareView{}, err
	}
	v := ShareView{Share: sh, Host: sh.Host(), FrontendEndpoints: []string{}}
	for _, f := range fs {
		v.FrontendEndpoints = append(v.FrontendEndpoints, strings.ReplaceAll(f.URLTemplate, "{host}", sh.Host()))
	}
	return v, nil
}

func (a *API) listShares(w http.ResponseWriter, r *http.Request) {
	shares, err := a.store.Shares(r.Context(), accountOf(r).ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	views := make([]ShareView, 0, len(shares))
	for _, sh := range shares {
		v, err := a.view(r.Context(), sh)
		if err != nil {
			a.fail(w, err)
			return
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, views)
}

func (a *API) getShare(w http.ResponseWriter, r *http.Request) {
	sh, err := a.store.Share(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := a.view(r.Context(), sh)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) deleteShare(w http.ResponseWriter, r *http.Request) {
	sh, changes, err := a.store.DeleteShare(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	// The share is gone from the store and the frontends; removing its
	// overlay objects is cleanup that must not stop if the client goes away.
	a.undo("share service "+sh.Token, a.ziti.DeleteShareService(context.WithoutCancel(r.Context()), sh.Token))
	w.WriteHeader(http.StatusNoContent)
}

// withIdentity makes an overlay identity and calls save with its id. If save
// fails, the identity is removed again, so a failed request leaves nothing.
func (a *API) withIdentity(ctx context.Context, name, role string, tags map[string]string, save func(identityID string) error) (enrollmentJWT string, err error) {
	id, jwt, err := a.ziti.CreateIdentity(ctx, name, []string{role}, tags)
	if err != nil {
		return "", err
	}
	if err := save(id); err != nil {
		a.undo("identity "+name, a.ziti.DeleteIdentity(context.WithoutCancel(ctx), id))
		return "", err
	}
	return jwt, nil
}

// undo logs a failed cleanup step; the caller's answer does not depend on it.
func (a *API) undo(what string, err error) {
	if err != nil {
		a.logger.Warn("cleanup failed; the object is left on the overlay", zap.String("object", what), zap.Error(err))
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func quote(s string) string { return strconv.Quote(s) }

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
