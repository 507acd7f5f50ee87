package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/porticoproxy/portico/internal/mapping"
)

// appendChange bumps the frontend's revision, applies the change to its
// current mappings and journals it, all inside tx. The UPDATE takes the
// frontend's row lock, so concurrent writers get revisions in commit order.
func (s *Store) appendChange(ctx context.Context, tx *sql.Tx, frontendID string, op mapping.Op, m mapping.Mapping) (FrontendChange, error) {
	var rev int64
	if err := tx.QueryRowContext(ctx, s.q(`UPDATE frontends SET revision = revision + 1 WHERE id = ? RETURNING revision`), frontendID).Scan(&rev); err != nil {
		return FrontendChange{}, notFound(err, "frontend "+frontendID)
	}
	var err error
	switch op {
	case mapping.Upsert:
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO mappings (frontend_id, `+mappingColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (frontend_id, name) DO UPDATE SET share_token = excluded.share_token, policy = excluded.policy, agents = excluded.agents`),
			append([]any{frontendID}, mappingValues(m)...)...)
	case mapping.Delete:
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM mappings WHERE frontend_id = ? AND name = ?`), frontendID, m.Name)
	default:
		return FrontendChange{}, fmt.Errorf("unknown mapping op %d", op)
	}
	if err != nil {
		return FrontendChange{}, fmt.Errorf("updating mapping %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO journal (frontend_id, revision, op, created_at, `+mappingColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		append([]any{frontendID, rev, op.String(), now()}, mappingValues(m)...)...); err != nil {
		return FrontendChange{}, fmt.Errorf("journaling change: %w", err)
	}
	return FrontendChange{Frontend: frontendID, Change: mapping.Change{Revision: rev, Op: op, Mapping: m}}, nil
}

// mappingColumns are a mapping's columns in the mappings and journal tables.
// agents holds the names of the agents separated by spaces, which a name
// cannot hold (mapping.Change.Validate).
const mappingColumns = `name, share_token, policy, agents`

// mappingValues are m's values for mappingColumns.
func mappingValues(m mapping.Mapping) []any {
	return []any{m.Name, m.Share, string(m.Policy), agentsValue(m.Agents)}
}

func agentsValue(agents []string) string { return strings.Join(agents, " ") }

// scanMapping reads a row of the columns before, then mappingColumns into m.
func scanMapping(r interface{ Scan(...any) error }, m *mapping.Mapping, before ...any) error {
	var policy, agents string
	if err := r.Scan(append(before, &m.Name, &m.Share, &policy, &agents)...); err != nil {
		return err
	}
	if policy != "" {
		m.Policy = []byte(policy)
	}
	if agents != "" {
		m.Agents = strings.Fields(agents)
	}
	return nil
}

// Page bounds one batch of mappings or changes: at most Entries of them, and
// no more once their sizes (Mapping.Size) reach Bytes, though a page always
// holds at least one. Bytes zero means no bound on bytes.
type Page struct{ Entries, Bytes int }

func (p Page) full(entries, bytes int) bool {
	return entries >= p.Entries || (p.Bytes > 0 && bytes >= p.Bytes)
}

// Snapshot calls fn with the frontend's revision and its mappings in pages,
// all read in one transaction so they agree with the revision.
func (s *Store) Snapshot(ctx context.Context, frontendID string, page Page, fn func(revision int64, ms []mapping.Mapping) error) error {
	// Repeatable read makes the revision and the mappings one consistent view
	// on PostgreSQL; SQLite transactions always are.
	opts := &sql.TxOptions{}
	if s.postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning snapshot: %w", err)
	}
	defer tx.Rollback()
	var rev int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT revision FROM frontends WHERE id = ?`), frontendID).Scan(&rev); err != nil {
		return notFound(err, "frontend "+frontendID)
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+mappingColumns+` FROM mappings WHERE frontend_id = ? ORDER BY name`), frontendID)
	if err != nil {
		return fmt.Errorf("reading mappings: %w", err)
	}
	defer rows.Close()
	ms := make([]mapping.Mapping, 0, min(page.Entries, 1024))
	sent := false
	bytes := 0
	for rows.Next() {
		var m mapping.Mapping
		if err := scanMapping(rows, &m); err != nil {
			return fmt.Errorf("reading mapping: %w", err)
		}
		ms, bytes = append(ms, m), bytes+m.Size()
		if page.full(len(ms), bytes) {
			if err := fn(rev, ms); err != nil {
				return err
			}
			ms, sent, bytes = ms[:0], true, 0
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading mappings: %w", err)
	}
	if len(ms) > 0 || !sent {
		return fn(rev, ms)
	}
	return nil
}

// Changes returns one page of a frontend's journal entries after a revision,
// and its current revision. tooOld is true when the journal cannot bring a
// client at after up to date (it was compacted past it, or the client is
// ahead of the store); the client must then take a snapshot.
func (s *Store) Changes(ctx context.Context, frontendID string, after int64, page Page) (changes []mapping.Change, current int64, tooOld bool, err error) {
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT f.revision, (SELECT MIN(j.revision) FROM journal j WHERE j.frontend_id = f.id) FROM frontends f WHERE f.id = ?`), frontendID).
		Scan(&current, &oldest); err != nil {
		return nil, 0, false, notFound(err, "frontend "+frontendID)
	}
	if after > current || (after < current && (!oldest.Valid || oldest.Int64 > after+1)) {
		return nil, current, true, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT revision, op, `+mappingColumns+` FROM journal WHERE frontend_id = ? AND revision > ? ORDER BY revision LIMIT ?`), frontendID, after, page.Entries)
	if err != nil {
		return nil, 0, false, fmt.Errorf("reading journal: %w", err)
	}
	defer rows.Close()
	bytes := 0
	for !page.full(len(changes), bytes) && rows.Next() {
		var c mapping.Change
		var op string
		if err := scanMapping(rows, &c.Mapping, &c.Revision, &op); err != nil {
			return nil, 0, false, fmt.Errorf("reading journal: %w", err)
		}
		// An op the journal does not know is a broken entry, never an upsert.
		if c.Op, err = mapping.ParseOp(op); err != nil {
			return nil, 0, false, fmt.Errorf("journal entry %d: %w", c.Revision, err)
		}
		changes, bytes = append(changes, c), bytes+c.Size()
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, fmt.Errorf("reading journal: %w", err)
	}
	return changes, current, false, nil
}
