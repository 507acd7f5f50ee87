package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/porticoproxy/portico/internal/mapping"
)

// agentsOutOfPolicies is migration 10: the mappings and journal entries
// written while a share's agents were part of its policy get them in the
// agents column instead (mapping.Upgrade), so that every row reads the same
// way. It is Go, not SQL, because SQLite and PostgreSQL edit JSON unalike.
func (s *Store) agentsOutOfPolicies() *goose.Migration {
	return goose.NewGoMigration(10, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		for _, table := range []struct{ name, key string }{
			{"mappings", "name"},
			{"journal", "revision"},
		} {
			if err := s.moveAgents(ctx, tx, table.name, table.key); err != nil {
				return fmt.Errorf("moving agents out of %s policies: %w", table.name, err)
			}
		}
		return nil
	}}, nil)
}

// moveAgents upgrades the rows of table, keyed by frontend_id and key, whose
// policy may hold agents.
func (s *Store) moveAgents(ctx context.Context, tx *sql.Tx, table, key string) error {
	type row struct {
		frontend, policy string
		key              any // a name or a revision, passed back as read
	}
	rows, err := tx.QueryContext(ctx, `SELECT frontend_id, `+key+`, policy FROM `+table+` WHERE policy LIKE '%"agents"%'`)
	if err != nil {
		return err
	}
	// Read them all first: a PostgreSQL connection runs one query at a time.
	old, err := collect(rows, func(r interface{ Scan(...any) error }) (row, error) {
		var v row
		return v, r.Scan(&v.frontend, &v.key, &v.policy)
	})
	if err != nil {
		return err
	}
	for _, r := range old {
		m := mapping.Upgrade(mapping.Mapping{Policy: []byte(r.policy)})
		if m.Agents == nil {
			continue // "agents" was in a value
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE `+table+` SET policy = ?, agents = ? WHERE frontend_id = ? AND `+key+` = ?`),
			string(m.Policy), agentsValue(m.Agents), r.frontend, r.key); err != nil {
			return err
		}
	}
	return nil
}
