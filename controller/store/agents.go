package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/porticoproxy/portico/internal/mapping"
)

// ShareByName finds one of an account's shares by its name in a namespace.
func (s *Store) ShareByName(ctx context.Context, accountID, namespaceID, name string) (Share, error) {
	sh, err := scanShare(s.db.QueryRowContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.account_id = ? AND s.namespace_id = ? AND s.name = ?`), accountID, namespaceID, name))
	return sh, notFound(err, "share "+name)
}

// AddAgent records an agent that serves one of an account's shares under its
// own terminator identity, and remaps the share so frontends balance across
// its agents.
func (s *Store) AddAgent(ctx context.Context, accountID, token, agentID, target string) ([]FrontendChange, error) {
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sh, err := scanShare(tx.QueryRowContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.token = ? AND s.account_id = ?`), token, accountID))
		if err != nil {
			return notFound(err, "share "+token)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM share_agents WHERE share_token = ?`), token).Scan(&n); err != nil {
			return fmt.Errorf("counting agents: %w", err)
		}
		if n >= mapping.MaxAgents {
			return fmt.Errorf("share %s already has %d agents, the most one share may have: %w", token, n, ErrLimit)
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO share_agents (share_token, id, target, created_at) VALUES (?, ?, ?, ?)`), token, agentID, target, now())
		if isUnique(err) {
			return fmt.Errorf("agent %s of share %s: %w", agentID, token, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("adding agent: %w", err)
		}
		if changes, err = s.remap(ctx, tx, sh); err != nil {
			return err
		}
		return s.charge(ctx, tx, sh.AccountID, changes)
	})
	return changes, err
}

// RemoveAgent forgets an agent of a share and remaps the share. accountID
// may be empty for the controller's own workers.
func (s *Store) RemoveAgent(ctx context.Context, accountID, token, agentID string) ([]FrontendChange, error) {
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sh, err := scanShare(tx.QueryRowContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.token = ? AND (s.account_id = ? OR ? = '')`), token, accountID, accountID))
		if err != nil {
			return notFound(err, "share "+token)
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM share_agents WHERE share_token = ? AND id = ?`), token, agentID)
		if err != nil {
			return fmt.Errorf("removing agent: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("agent %s of share %s: %w", agentID, token, ErrNotFound)
		}
		changes, err = s.remap(ctx, tx, sh)
		return err
	})
	return changes, err
}

// Agents lists the agents of a share.
func (s *Store) Agents(ctx context.Context, token string) ([]string, error) {
	return s.agentIDs(ctx, s.db, token)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) agentIDs(ctx context.Context, q querier, token string) ([]string, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT id FROM share_agents WHERE share_token = ? ORDER BY id`), token)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	return collect(rows, scanString)
}

// shareMapping is the mapping frontends get for a share under name: its
// own policy and the agents that serve it.
func (s *Store) shareMapping(ctx context.Context, q querier, sh Share, name string) (mapping.Mapping, error) {
	agents, err := s.agentIDs(ctx, q, sh.Token)
	if err != nil {
		return mapping.Mapping{}, err
	}
	return mapping.Mapping{Name: name, Share: sh.Token, Policy: sh.Policy, Agents: agents}, nil
}

// remap sends every mapping of a share again with its current policy and
// agents.
func (s *Store) remap(ctx context.Context, tx *sql.Tx, sh Share) ([]FrontendChange, error) {
	m, err := s.shareMapping(ctx, tx, sh, "")
	if err != nil {
		return nil, err
	}
	keys, err := s.shareMappings(ctx, tx, sh.Token)
	if err != nil {
		return nil, err
	}
	var changes []FrontendChange
	for _, k := range keys {
		m.Name = k.name
		c, err := s.appendChange(ctx, tx, k.frontend, mapping.Upsert, m)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

type mappingKey struct{ frontend, name string }

// shareMappings lists where a share is mapped.
func (s *Store) shareMappings(ctx context.Context, tx *sql.Tx, token string) ([]mappingKey, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT frontend_id, name FROM mappings WHERE share_token = ? ORDER BY frontend_id, name`), token)
	if err != nil {
		return nil, fmt.Errorf("listing share mappings: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (mappingKey, error) {
		var k mappingKey
		return k, r.Scan(&k.frontend, &k.name)
	})
}
