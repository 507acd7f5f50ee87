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
	"github.com/porticoproxy/portico/internal/policy"
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
	jwt, err := a.withIdentity(r.Context(), "portico-env-"+env.ID, []string{zitiauto.RoleEnvironment, zitiauto.AccountRole(acct.ID)},
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
	accessed, err := a.store.AccessedShares(r.Context(), env.ID)
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
	deleted := map[string]bool{}
	for _, sh := range shares {
		deleted[sh.Token] = true
		a.undo("share service "+sh.Token, a.ziti.DeleteShareService(r.Context(), sh.Token))
	}
	// Its accesses went with it; the shares it accessed stop naming it.
	for _, tok := range accessed {
		if !deleted[tok] {
			a.syncAfterRemoval(r.Context(), tok)
		}
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
	// Reserved shares keep Name until released. Their target and backend
	// mode may come later, from the agents that serve them.
	Reserved bool           `json:"reserved"`
	Name     string         `json:"name"`
	Policy   *policy.Policy `json:"policy"`
	// Closed private shares admit only the accounts their owner grants.
	Closed bool `json:"closed"`
}

// ShareView is a share as the API shows it.
type ShareView struct {
	store.Share
	Host string `json:"host"`
	// FrontendEndpoints are the URLs at which the share is reachable.
	FrontendEndpoints []string `json:"frontend_endpoints"`
}

// backendModes are what an agent can serve: an HTTP target, a directory, a
// Caddyfile, or raw TCP or UDP (private shares only).
var backendModes = map[string]bool{"proxy": true, "web": true, "caddy": true, "tcpTunnel": true, "udpTunnel": true}

func (r *createShareRequest) validate() error {
	if r.ShareMode == "" {
		r.ShareMode = "public"
	}
	if r.BackendMode == "" && (!r.Reserved || r.Target != "") {
		r.BackendMode = "proxy"
	}
	switch {
	case r.ShareMode != "public" && r.ShareMode != "private":
		return inputError("share_mode " + quote(r.ShareMode) + " is not supported; use \"public\" or \"private\"")
	case r.BackendMode != "" && !backendModes[r.BackendMode]:
		return inputError("backend_mode " + quote(r.BackendMode) + " is not supported; use proxy, web, caddy, tcpTunnel or udpTunnel")
	case r.ShareMode == "public" && (r.BackendMode == "tcpTunnel" || r.BackendMode == "udpTunnel"):
		return inputError("backend_mode " + r.BackendMode + " needs a private share: frontends speak HTTP")
	case r.EnvironmentID == "":
		return inputError("environment_id is required")
	case r.Name != "" && !r.Reserved:
		return inputError("name is for reserved shares; an ephemeral share is named by its token")
	case r.Reserved && r.Name == "":
		return inputError("a reserved share needs a name")
	case r.Policy != nil && r.ShareMode != "public":
		return inputError("policy applies at the frontends, so only to public shares")
	case r.Closed && r.ShareMode != "private":
		return inputError("closed is for private shares; a public share's policy says who may reach it")
	}
	if r.Reserved {
		r.Name = strings.ToLower(r.Name)
		if !labelRE.MatchString(r.Name) {
			return inputError("name " + quote(r.Name) + " is not a DNS label: use 1-63 of a-z, 0-9 and '-', not starting or ending with '-'")
		}
	}
	if r.Policy != nil {
		if len(r.Policy.Agents) > 0 {
			return inputError("policy.agents is set by the agents that serve the share")
		}
		if err := r.Policy.Validate(); err != nil {
			return inputError("policy: " + err.Error())
		}
	}
	if r.Target == "" && r.Reserved {
		return nil
	}
	return validTarget(r.BackendMode, r.Target)
}

func (a *API) createShare(w http.ResponseWriter, r *http.Request) {
	var req createShareRequest
	if !decode(w, r, &req) {
		return
	}
	if err := req.validate(); err != nil {
		a.fail(w, err)
		return
	}
	ctx := r.Context()
	acct := accountOf(r)
	env, err := a.store.Environment(ctx, acct.ID, req.EnvironmentID)
	if err != nil {
		a.fail(w, err)
		return
	}
	var ns store.Namespace
	if req.ShareMode == "private" && req.Namespace == "" {
		ns, err = a.anyNamespace(ctx, acct.ID)
	} else {
		ns, err = a.namespaceFor(ctx, req.Namespace, acct.ID)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	sh := store.Share{
		Token: token.New(shareTokenLength), AccountID: acct.ID, EnvironmentID: env.ID, NamespaceID: ns.ID, Namespace: ns.Name,
		Name: req.Name, ShareMode: req.ShareMode, BackendMode: req.BackendMode, Target: req.Target, Reserved: req.Reserved, Closed: req.Closed, CreatedAt: now(),
	}
	if sh.Name == "" {
		sh.Name = sh.Token // an ephemeral share is named by its token
	}
	if req.Policy != nil {
		if sh.Policy, err = req.Policy.Encode(); err != nil {
			a.fail(w, inputError(err.Error()))
			return
		}
	}
	// Frontends dial public shares; accessors dial private ones, once they come.
	dialRoles, err := DialRoles(ctx, a.store, sh)
	if err != nil {
		a.fail(w, err)
		return
	}
	if sh.ZitiServiceID, err = a.ziti.CreateShareService(ctx, sh.Token, zitiauto.BindRoles(sh.Reserved, acct.ID, env.ZitiIdentityID), dialRoles); err != nil {
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

// namespaceFor resolves the namespace a share asks for (with none named, the
// only one the account may use) and checks that the account may use it.
func (a *API) namespaceFor(ctx context.Context, name, accountID string) (store.Namespace, error) {
	if name != "" {
		ns, err := a.store.NamespaceByName(ctx, strings.ToLower(name))
		if err != nil {
			return ns, err
		}
		ok, err := a.store.MayUseNamespace(ctx, ns, accountID)
		if err != nil {
			return ns, err
		}
		if !ok {
			return ns, forbiddenError("namespace " + ns.Name + " is closed and your account has not been granted it")
		}
		return ns, nil
	}
	nss, err := a.store.Namespaces(ctx)
	if err != nil {
		return store.Namespace{}, err
	}
	var usable []store.Namespace
	var names []string
	for _, ns := range nss {
		ok, err := a.store.MayUseNamespace(ctx, ns, accountID)
		if err != nil {
			return store.Namespace{}, err
		}
		if ok {
			usable = append(usable, ns)
			names = append(names, ns.Name)
		}
	}
	switch len(usable) {
	case 1:
		return usable[0], nil
	case 0:
		return store.Namespace{}, forbiddenError("your account may use no namespace yet; ask the admin for one")
	}
	return store.Namespace{}, inputError("namespace is required: you may use " + strings.Join(names, ", "))
}

// anyNamespace is a namespace the account may use, for a private share: it
// has no host name, and needs a namespace only for its record.
func (a *API) anyNamespace(ctx context.Context, accountID string) (store.Namespace, error) {
	nss, err := a.store.Namespaces(ctx)
	if err != nil {
		return store.Namespace{}, err
	}
	for _, ns := range nss {
		ok, err := a.store.MayUseNamespace(ctx, ns, accountID)
		if err != nil || ok {
			return ns, err
		}
	}
	return store.Namespace{}, forbiddenError("the controller has no namespace your account may use")
}

func (a *API) view(ctx context.Context, sh store.Share) (ShareView, error) {
	fs, err := a.store.NamespaceFrontends(ctx, sh.NamespaceID)
	if err != nil {
		return ShareView{}, err
	}
	v := ShareView{Share: sh, Host: sh.Host(), FrontendEndpoints: []string{}}
	if sh.ShareMode != "public" {
		v.Host = ""
		return v, nil
	}
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
func (a *API) withIdentity(ctx context.Context, name string, roles []string, tags map[string]string, save func(identityID string) error) (enrollmentJWT string, err error) {
	id, jwt, err := a.ziti.CreateIdentity(ctx, name, roles, tags)
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
