package service

// Environments: an account's machines, each with its own OpenZiti identity.

import (
	"context"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

// CreateEnvironment makes an environment and its OpenZiti identity, and
// returns the identity's enrollment JWT: the agent enrols it on its own
// machine, so the private key never leaves it.
func (s *Service) CreateEnvironment(ctx context.Context, acct store.Account, description, host string) (store.Environment, string, error) {
	env := store.Environment{ID: token.New(12), AccountID: acct.ID, Description: description, Host: host, CreatedAt: now()}
	jwt, err := s.withIdentity(ctx, "portico-env-"+env.ID, []string{zitiauto.RoleEnvironment, zitiauto.AccountRole(acct.ID)},
		map[string]string{"portico": "environment", "porticoEnvironment": env.ID, "porticoAccount": acct.ID},
		func(id string) error {
			env.ZitiIdentityID = id
			return s.store.CreateEnvironment(ctx, env)
		})
	return env, jwt, err
}

// DeleteEnvironment removes an environment with its shares and accesses,
// and their overlay objects.
func (s *Service) DeleteEnvironment(ctx context.Context, accountID, id string) error {
	env, err := s.store.Environment(ctx, accountID, id)
	if err != nil {
		return err
	}
	accessed, err := s.store.AccessedShares(ctx, env.ID)
	if err != nil {
		return err
	}
	shares, changes, err := s.store.DeleteEnvironment(ctx, accountID, env.ID)
	if err != nil {
		return err
	}
	s.pub.Publish(changes)
	// What follows is cleanup that must not stop if the client goes away.
	ctx = context.WithoutCancel(ctx)
	deleted := map[string]bool{}
	for _, sh := range shares {
		deleted[sh.Token] = true
		s.logCleanupFailure("share service "+sh.Token, s.ziti.DeleteShareService(ctx, sh.Token))
	}
	// Its accesses went with it; the shares it accessed stop naming it.
	for _, tok := range accessed {
		if !deleted[tok] {
			s.syncAfterRemoval(ctx, tok)
		}
	}
	s.logCleanupFailure("environment identity", s.ziti.DeleteIdentity(ctx, env.ZitiIdentityID))
	return nil
}
