package service

// Private shares: the environments that may dial them, and the accounts a
// closed one admits.

import (
	"context"
	"slices"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

// CreateAccess lets one of the account's environments dial a private share,
// and returns the access with the share. Any account that knows the token
// may access an open share; a closed one admits the accounts its owner
// granted.
func (s *Service) CreateAccess(ctx context.Context, acct store.Account, shareToken, environmentID string) (store.Access, store.Share, error) {
	if environmentID == "" {
		return store.Access{}, store.Share{}, invalid("environment_id is required: the environment that will dial the share")
	}
	env, err := s.store.Environment(ctx, acct.ID, environmentID)
	if err != nil {
		return store.Access{}, store.Share{}, err
	}
	sh, err := s.store.ShareByToken(ctx, shareToken)
	if err != nil {
		return store.Access{}, store.Share{}, err
	}
	if sh.ShareMode != "private" {
		return store.Access{}, sh, invalid("share " + sh.Token + " is public: public shares are reached through the frontends")
	}
	ok, err := s.store.MayAccessShare(ctx, sh, acct.ID)
	if err != nil {
		return store.Access{}, sh, err
	}
	if !ok {
		return store.Access{}, sh, forbidden("share " + sh.Token + " is closed and your account has not been granted it")
	}
	acc := store.Access{ID: token.New(12), ShareToken: sh.Token, AccountID: acct.ID, EnvironmentID: env.ID, ZitiIdentityID: env.ZitiIdentityID, CreatedAt: now()}
	if err := s.store.AddAccess(ctx, acc); err != nil {
		return store.Access{}, sh, err
	}
	if err := s.SyncDialRoles(ctx, sh.Token); err != nil {
		s.logCleanupFailure("access "+acc.ID, s.store.RemoveAccess(context.WithoutCancel(ctx), acct.ID, sh.Token, acc.ID))
		return store.Access{}, sh, err
	}
	return acc, sh, nil
}

// DeleteAccess ends one of the account's accesses; its environment may no
// longer dial the share unless another of its accesses remains.
func (s *Service) DeleteAccess(ctx context.Context, accountID, shareToken, id string) error {
	if err := s.store.RemoveAccess(ctx, accountID, shareToken, id); err != nil {
		return err
	}
	s.syncAfterRemoval(ctx, shareToken)
	return nil
}

// DeleteEnvironmentAccesses ends every access of one of the account's
// environments to a share, for an accessor that crashed before it could end
// its own, and returns how many there were.
func (s *Service) DeleteEnvironmentAccesses(ctx context.Context, accountID, shareToken, environmentID string) (int64, error) {
	if environmentID == "" {
		return 0, invalid("the environment_id query parameter is required")
	}
	n, err := s.store.RemoveEnvironmentAccesses(ctx, accountID, shareToken, environmentID)
	if err != nil {
		return 0, err
	}
	s.syncAfterRemoval(ctx, shareToken)
	return n, nil
}

// syncAfterRemoval updates the Dial policy after accesses were removed. The
// removal stands even if the overlay does not answer: the reconciler brings
// the policy in line within a round.
func (s *Service) syncAfterRemoval(ctx context.Context, shareToken string) {
	s.logCleanupFailure("dial roles of share "+shareToken, s.SyncDialRoles(context.WithoutCancel(ctx), shareToken))
}

// syncRounds bounds SyncDialRoles while the accessors keep changing; the
// writer of the last change converges them.
const syncRounds = 5

// SyncDialRoles makes a private share's Dial policy name exactly its
// accessors. It reads them again after each change and repeats until they
// hold still: of several writers at once (on any controller, or the
// reconciler), the one that changed the store last then sets the policy last.
func (s *Service) SyncDialRoles(ctx context.Context, shareToken string) error {
	var set []string
	for round := range syncRounds {
		ids, err := s.store.AccessIdentities(ctx, shareToken)
		if err != nil {
			return err
		}
		if round > 0 && slices.Equal(ids, set) {
			return nil
		}
		if err := s.ziti.SetShareDialRoles(ctx, shareToken, zitiauto.IdentityRoles(ids)); err != nil {
			return err
		}
		set = ids
	}
	return nil
}

// GrantShare lets the account with email access one of the caller's closed
// private shares. It succeeds alike whether or not such an account exists
// yet, so that it tells nobody who has an account.
func (s *Service) GrantShare(ctx context.Context, accountID, shareToken, email string) (store.Share, error) {
	if email == "" {
		return store.Share{}, invalid("email is required: the account to grant the share to")
	}
	if err := checkEmail(email); err != nil {
		return store.Share{}, err
	}
	sh, err := s.store.Share(ctx, accountID, shareToken)
	if err != nil {
		return sh, err
	}
	switch {
	case sh.ShareMode != "private":
		return sh, invalid("share " + sh.Token + " is public: grants are for closed private shares")
	case !sh.Closed:
		return sh, invalid("share " + sh.Token + " is open: any account that knows its token may access it")
	}
	return sh, s.store.GrantShare(ctx, sh.Token, email)
}
