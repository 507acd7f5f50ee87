package service

// The agents that serve a share, which frontends balance across.

import (
	"context"
	"errors"
	"fmt"

	"github.com/porticoproxy/portico/controller/store"
)

// AddAgent records an agent serving one of the account's shares, so that
// frontends balance across the share's agents and reach each one by its
// terminator identity id.
func (s *Service) AddAgent(ctx context.Context, accountID, token, id, target string) error {
	if !labelRE.MatchString(id) {
		return invalid("agent id " + quote(id) + " must be 1-63 of a-z, 0-9 and '-'")
	}
	changes, err := s.store.AddAgent(ctx, accountID, token, id, target)
	if err != nil {
		return err
	}
	s.pub.Publish(changes)
	return nil
}

// RemoveAgent takes an agent out of one of the account's shares' rotation;
// the agent calls it before it stops serving, so no new request goes to it.
func (s *Service) RemoveAgent(ctx context.Context, accountID, token, id string) error {
	changes, err := s.store.RemoveAgent(ctx, accountID, token, id)
	if err != nil {
		return err
	}
	s.pub.Publish(changes)
	return nil
}

// ReapAgent takes a gone agent out of a share's rotation, whoever owns the
// share: an agent that crashed never left it. An agent already gone is no
// error.
func (s *Service) ReapAgent(ctx context.Context, token, id string) error {
	err := s.RemoveAgent(ctx, "", token, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("removing agent %s of share %s: %w", id, token, err)
	}
	return nil
}
