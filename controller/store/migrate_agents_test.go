package store

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/porticoproxy/portico/internal/mapping"
)

// A database written while agents travelled inside the policy reads, after
// migration 10, as if written now: the agents on the mapping, the policy the
// owner's own.
func TestMigrationMovesAgentsOutOfPolicies(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := kind.dsn(t)
			s, err := Open(ctx, dsn)
			must(t, err)
			f := newFixture(t, s, "a")
			own := `{"ip_deny":["10.0.0.0/8"]}`
			sh := f.share("r1")
			sh.Policy = json.RawMessage(own)
			_, err = s.CreateShare(ctx, sh)
			must(t, err)
			_, err = s.AddAgent(ctx, f.account.ID, "r1", "agent-a", "")
			must(t, err)
			plain := f.share("r2") // "agents" in a value only
			plain.Policy = json.RawMessage(`{"request_headers":{"set":{"X-Role":"agents"}}}`)
			_, err = s.CreateShare(ctx, plain)
			must(t, err)

			// Write r1's rows as the controllers before did, and forget migration 10
			// (and those after it, which goose would otherwise find out of order).
			old := `{"agents":["agent-a"],"ip_deny":["10.0.0.0/8"]}`
			for _, table := range []string{"mappings", "journal"} {
				_, err := s.db.ExecContext(ctx, s.q(`UPDATE `+table+` SET policy = ?, agents = '' WHERE share_token = 'r1' AND policy <> ''`), old)
				must(t, err)
			}
			_, err = s.db.ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id >= 10`)
			must(t, err)
			must(t, s.Close())

			s, err = Open(ctx, dsn)
			must(t, err)
			t.Cleanup(func() { s.Close() })
			check := func(where string, m mapping.Mapping) {
				t.Helper()
				switch m.Share {
				case "r1":
					if string(m.Policy) != own || !slices.Equal(m.Agents, []string{"agent-a"}) {
						t.Errorf("%s: r1 = policy %s, agents %v; want %s and [agent-a]", where, m.Policy, m.Agents, own)
					}
				case "r2":
					if string(m.Policy) != string(plain.Policy) || m.Agents != nil {
						t.Errorf("%s: r2 = policy %s, agents %v; want it unchanged", where, m.Policy, m.Agents)
					}
				}
			}
			must(t, s.Snapshot(ctx, f.fronts[0], Page{Entries: 10}, func(_ int64, ms []mapping.Mapping) error {
				for _, m := range ms {
					check("snapshot", m)
				}
				return nil
			}))
			journal, _, _, err := s.Changes(ctx, f.fronts[0], 0, Page{Entries: 100})
			must(t, err)
			for _, c := range journal {
				if c.Op == mapping.Upsert {
					check("journal", c.Mapping)
				}
			}
		})
	}
}
