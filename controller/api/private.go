package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

// DialRoles are the identity roles of a share's Dial policy: the frontends
// for a public share, its accessors' environments for a private one.
func DialRoles(ctx context.Context, st *store.Store, sh store.Share) ([]string, error) {
	if sh.ShareMode == "public" {
		return []string{"#" + zitiauto.NamespaceRole(sh.NamespaceID)}, nil
	}
	ids, err := st.AccessIdentities(ctx, sh.Token)
	if err != nil {
		return nil, err
	}
	return zitiauto.IdentityRoles(ids), nil
}

// SyncFrontendRoles gives a frontend's identity the roles of the namespaces
// it serves (zitiauto.FrontendRoles).
func SyncFrontendRoles(ctx context.Context, st *store.Store, z Ziti, frontendID string) error {
	f, err := st.Frontend(ctx, frontendID)
	if err != nil {
		return err
	}
	ids, err := st.FrontendNamespaceIDs(ctx, frontendID)
	if err != nil {
		return err
	}
	return z.SetIdentityRoles(ctx, f.ZitiIdentityID, zitiauto.FrontendRoles(ids))
}

// syncRounds bounds SyncDialRoles while the accessors keep changing; the
// writer of the last change converges them.
const syncRounds = 5

// SyncDialRoles makes a private share's Dial policy name exactly its
// accessors. It reads them again after each change and repeats until they
// hold still: of several writers at once (on any controller, or the
// reconciler), the one that changed the store last then sets the policy last.
func SyncDialRoles(ctx context.Context, st *store.Store, z Ziti, shareToken string) error {
	var set []string
	for round := range syncRounds {
		ids, err := st.AccessIdentities(ctx, shareToken)
		if err != nil {
			return err
		}
		if round > 0 && slices.Equal(ids, set) {
			return nil
		}
		if err := z.SetShareDialRoles(ctx, shareToken, zitiauto.IdentityRoles(ids)); err != nil {
			return err
		}
		set = ids
	}
	return nil
}

type createAccessRequest struct {
	// EnvironmentID is the accessor's environment, whose identity will dial.
	EnvironmentID string `json:"environment_id"`
}

// AccessView is an access as the API shows it, with what the accessor
// needs to serve the share locally.
type AccessView struct {
	store.Access
	BackendMode string `json:"backend_mode"`
}

// createAccess lets an environment's identity dial a private share. Any
// account that knows the token may access an open share; a closed one
// admits the accounts its owner granted.
func (a *API) createAccess(w http.ResponseWriter, r *http.Request) {
	var req createAccessRequest
	if !decode(w, r, &req) {
		return
	}
	if req.EnvironmentID == "" {
		a.fail(w, inputError("environment_id is required: the environment that will dial the share"))
		return
	}
	ctx := r.Context()
	acct := accountOf(r)
	env, err := a.store.Environment(ctx, acct.ID, req.EnvironmentID)
	if err != nil {
		a.fail(w, err)
		return
	}
	sh, err := a.store.ShareByToken(ctx, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	if sh.ShareMode != "private" {
		a.fail(w, inputError("share "+sh.Token+" is public: public shares are reached through the frontends"))
		return
	}
	ok, err := a.store.MayAccessShare(ctx, sh, acct.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	if !ok {
		a.fail(w, forbiddenError("share "+sh.Token+" is closed and your account has not been granted it"))
		return
	}
	acc := store.Access{ID: token.New(12), ShareToken: sh.Token, AccountID: acct.ID, EnvironmentID: env.ID, ZitiIdentityID: env.ZitiIdentityID, CreatedAt: now()}
	if err := a.store.AddAccess(ctx, acc); err != nil {
		a.fail(w, err)
		return
	}
	if err := SyncDialRoles(ctx, a.store, a.ziti, sh.Token); err != nil {
		a.undo("access "+acc.ID, a.store.RemoveAccess(context.WithoutCancel(ctx), acct.ID, sh.Token, acc.ID))
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, AccessView{Access: acc, BackendMode: sh.BackendMode})
}

// deleteAccess ends one access; its environment may no longer dial the share
// unless another of its accesses remains.
func (a *API) deleteAccess(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if err := a.store.RemoveAccess(r.Context(), accountOf(r).ID, tok, r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	a.syncAfterRemoval(r.Context(), tok)
	w.WriteHeader(http.StatusNoContent)
}

// deleteEnvironmentAccesses ends every access of one environment to a
// share, for an accessor that crashed before it could end its own.
func (a *API) deleteEnvironmentAccesses(w http.ResponseWriter, r *http.Request) {
	envID := r.URL.Query().Get("environment_id")
	if envID == "" {
		a.fail(w, inputError("the environment_id query parameter is required"))
		return
	}
	tok := r.PathValue("token")
	n, err := a.store.RemoveEnvironmentAccesses(r.Context(), accountOf(r).ID, tok, envID)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.syncAfterRemoval(r.Context(), tok)
	writeJSON(w, http.StatusOK, map[string]int64{"removed": n})
}

// syncAfterRemoval updates the Dial policy after accesses were removed. The
// removal stands even if the overlay does not answer: the reconciler brings
// the policy in line within a round.
func (a *API) syncAfterRemoval(ctx context.Context, shareToken string) {
	a.undo("dial roles of share "+shareToken, SyncDialRoles(context.WithoutCancel(ctx), a.store, a.ziti, shareToken))
}

type grantShareRequest struct {
	Email string `json:"email"`
}

// grantShare lets an account access one of the caller's closed shares.
func (a *API) grantShare(w http.ResponseWriter, r *http.Request) {
	var req grantShareRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Email == "" {
		a.fail(w, inputError("email is required: the account to grant the share to"))
		return
	}
	if err := checkEmail(req.Email); err != nil {
		a.fail(w, err)
		return
	}
	sh, err := a.store.Share(r.Context(), accountOf(r).ID, r.PathValue("token"))
	if err != nil {
		a.fail(w, err)
		return
	}
	switch {
	case sh.ShareMode != "private":
		a.fail(w, inputError("share "+sh.Token+" is public: grants are for closed private shares"))
		return
	case !sh.Closed:
		a.fail(w, inputError("share "+sh.Token+" is open: any account that knows its token may access it"))
		return
	}
	if err := a.store.GrantShare(r.Context(), sh.Token, req.Email); err != nil {
		a.fail(w, err)
		return
	}
	// The same answer whether or not an account has the email yet.
	writeJSON(w, http.StatusCreated, map[string]string{"share": sh.Token, "email": req.Email})
}
