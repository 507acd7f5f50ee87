package store

// Private shares: the environments that access them and the accounts a
// closed one admits.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Access is an environment's access to a private share: while it lasts, the
// environment's identity may dial the share's service.
type Access struct {
	ID             string
	ShareToken     string
	AccountID      string
	EnvironmentID  string
	ZitiIdentityID string
	CreatedAt      time.Time
}

// GrantShare lets the account with an email (compared without regard to
// case) access a closed share, whether that account exists yet or not: the
// answer must not tell which emails have accounts.
func (s *Store) GrantShare(ctx context.Context, token, email string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO share_email_grants (share_token, email) VALUES (?, ?)`), token, strings.ToLower(email))
	switch {
	case isUnique(err):
		return fmt.Errorf("%s is already granted share %s: %w", email, token, ErrConflict)
	case isForeignKey(err):
		return fmt.Errorf("share %s: %w", token, ErrNotFound)
	case err != nil:
		return fmt.Errorf("granting share: %w", err)
	}
	return nil
}

// MayAccessShare reports whether an account may access a private share: any
// account may access an open one; a closed one admits its owner and the
// accounts granted it.
func (s *Store) MayAccessShare(ctx context.Context, sh Share, accountID string) (bool, error) {
	if !sh.Closed || sh.AccountID == accountID {
		return true, nil
	}
	var granted int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM share_email_grants g JOIN accounts a ON LOWER(a.email) = g.email WHERE g.share_token = ? AND a.id = ?`),
		sh.Token, accountID).Scan(&granted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading share grants: %w", err)
	}
	return true, nil
}

// AddAccess records an access to a share.
func (s *Store) AddAccess(ctx context.Context, a Access) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO share_accesses (id, share_token, account_id, environment_id, ziti_identity_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		a.ID, a.ShareToken, a.AccountID, a.EnvironmentID, a.ZitiIdentityID, a.CreatedAt)
	switch {
	case isForeignKey(err): // the share went meanwhile
		return fmt.Errorf("share %s: %w", a.ShareToken, ErrNotFound)
	case err != nil:
		return fmt.Errorf("adding access: %w", err)
	}
	return nil
}

// RemoveAccess removes one of an account's accesses to a share.
func (s *Store) RemoveAccess(ctx context.Context, accountID, token, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM share_accesses WHERE id = ? AND share_token = ? AND account_id = ?`), id, token, accountID)
	if err != nil {
		return fmt.Errorf("removing access: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("access %s to share %s: %w", id, token, ErrNotFound)
	}
	return nil
}

// RemoveEnvironmentAccesses removes every access of one of an account's
// environments to a share, such as those of an accessor that crashed, and
// returns how many there were; none is ErrNotFound.
func (s *Store) RemoveEnvironmentAccesses(ctx context.Context, accountID, token, environmentID string) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM share_accesses WHERE share_token = ? AND environment_id = ? AND account_id = ?`), token, environmentID, accountID)
	if err != nil {
		return 0, fmt.Errorf("removing accesses: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, fmt.Errorf("access of environment %s to share %s: %w", environmentID, token, ErrNotFound)
	}
	return n, nil
}

// AccessIdentities lists the Ziti identities that access a share, each once,
// sorted: what its Dial policy must name.
func (s *Store) AccessIdentities(ctx context.Context, token string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT ziti_identity_id FROM share_accesses WHERE share_token = ? ORDER BY ziti_identity_id`), token)
	if err != nil {
		return nil, fmt.Errorf("listing share accessors: %w", err)
	}
	return collect(rows, scanString)
}

// AccessedShares lists the tokens of the shares an environment accesses.
func (s *Store) AccessedShares(ctx context.Context, environmentID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT share_token FROM share_accesses WHERE environment_id = ? ORDER BY share_token`), environmentID)
	if err != nil {
		return nil, fmt.Errorf("listing accessed shares: %w", err)
	}
	return collect(rows, scanString)
}
