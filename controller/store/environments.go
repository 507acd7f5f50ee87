package store

// Environments: an account's machines.

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Environment is one machine of an account, with its own Ziti identity.
type Environment struct {
	ID             string
	AccountID      string
	Description    string
	Host           string
	ZitiIdentityID string
	CreatedAt      time.Time
}

// CreateEnvironment adds an environment.
func (s *Store) CreateEnvironment(ctx context.Context, e Environment) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO environments (id, account_id, description, host, ziti_identity_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		e.ID, e.AccountID, e.Description, e.Host, e.ZitiIdentityID, e.CreatedAt)
	if err != nil {
		return fmt.Errorf("creating environment: %w", err)
	}
	return nil
}

const environmentColumns = `id, account_id, description, host, ziti_identity_id, created_at`

func scanEnvironment(row interface{ Scan(...any) error }) (Environment, error) {
	var e Environment
	err := row.Scan(&e.ID, &e.AccountID, &e.Description, &e.Host, &e.ZitiIdentityID, &e.CreatedAt)
	return e, err
}

// Environment returns one of an account's environments.
func (s *Store) Environment(ctx context.Context, accountID, id string) (Environment, error) {
	e, err := scanEnvironment(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+environmentColumns+` FROM environments WHERE id = ? AND account_id = ?`), id, accountID))
	return e, notFound(err, "environment "+id)
}

// Environments lists an account's environments.
func (s *Store) Environments(ctx context.Context, accountID string) ([]Environment, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+environmentColumns+` FROM environments WHERE account_id = ? ORDER BY created_at`), accountID)
	if err != nil {
		return nil, fmt.Errorf("listing environments: %w", err)
	}
	return collect(rows, scanEnvironment)
}

// DeleteEnvironment removes an environment and its shares, returning the
// removed shares and the mapping changes to publish.
func (s *Store) DeleteEnvironment(ctx context.Context, accountID, id string) ([]Share, []FrontendChange, error) {
	var shares []Share
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.environment_id = ? AND s.account_id = ?`), id, accountID)
		if err != nil {
			return fmt.Errorf("listing environment shares: %w", err)
		}
		if shares, err = collect(rows, scanShare); err != nil {
			return err
		}
		for _, sh := range shares {
			cs, err := s.deleteShare(ctx, tx, sh)
			if err != nil {
				return err
			}
			changes = append(changes, cs...)
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM environments WHERE id = ? AND account_id = ?`), id, accountID)
		if err != nil {
			return fmt.Errorf("deleting environment: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("environment %s: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return shares, changes, nil
}
