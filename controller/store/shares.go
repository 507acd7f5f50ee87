package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/porticoproxy/portico/internal/mapping"
)

// Share is a service an agent offers under a name in a namespace.
type Share struct {
	Token         string
	AccountID     string
	EnvironmentID string
	NamespaceID   string
	Namespace     string
	Name          string
	ShareMode     string
	BackendMode   string
	Target        string
	ZitiServiceID string
	// Reserved shares keep their name until released; the others are
	// removed when their agent stops.
	Reserved bool
	// Closed private shares admit only the accounts granted them.
	Closed bool
	// Policy is the access policy frontends enforce, as JSON; empty for none.
	Policy    json.RawMessage
	CreatedAt time.Time
	// LastSeenAt is when the reaper last saw the share's agent on the overlay.
	LastSeenAt sql.NullTime
	// BindIdentityID is the Ziti identity of the share's environment.
	BindIdentityID string
}

// Host is the share's full host name.
func (sh Share) Host() string { return sh.Name + "." + sh.Namespace }

const shareColumns = `s.token, s.account_id, s.environment_id, s.namespace_id, n.name, s.name, s.share_mode, s.backend_mode, s.target, s.ziti_service_id, s.reserved, s.closed, s.policy, s.created_at, s.last_seen_at, e.ziti_identity_id`
const shareFrom = ` FROM shares s JOIN namespaces n ON n.id = s.namespace_id JOIN environments e ON e.id = s.environment_id`

func scanShare(row interface{ Scan(...any) error }) (Share, error) {
	var sh Share
	var policy string
	err := row.Scan(&sh.Token, &sh.AccountID, &sh.EnvironmentID, &sh.NamespaceID, &sh.Namespace, &sh.Name,
		&sh.ShareMode, &sh.BackendMode, &sh.Target, &sh.ZitiServiceID, &sh.Reserved, &sh.Closed, &policy, &sh.CreatedAt, &sh.LastSeenAt, &sh.BindIdentityID)
	if policy != "" {
		sh.Policy = json.RawMessage(policy)
	}
	return sh, err
}

// FrontendChange is a committed change to one frontend's mappings, to be
// published after the transaction that made it.
type FrontendChange struct {
	Frontend string
	mapping.Change
}

// CreateShare adds a share and maps its host on every frontend that serves
// its namespace. The name must be free in the namespace.
func (s *Store) CreateShare(ctx context.Context, sh Share) ([]FrontendChange, error) {
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if sh.Reserved {
			if err := s.checkQuarantine(ctx, tx, sh); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO shares (token, account_id, environment_id, namespace_id, name, share_mode, backend_mode, target, ziti_service_id, reserved, closed, policy, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			sh.Token, sh.AccountID, sh.EnvironmentID, sh.NamespaceID, sh.Name, sh.ShareMode, sh.BackendMode, sh.Target, sh.ZitiServiceID, sh.Reserved, sh.Closed, string(sh.Policy), sh.CreatedAt)
		if isUnique(err) {
			return fmt.Errorf("name %s: %w", sh.Host(), ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("creating share: %w", err)
		}
		if sh.ShareMode != "public" {
			return nil
		}
		fronts, err := s.namespaceFrontendIDs(ctx, tx, sh.NamespaceID)
		if err != nil {
			return err
		}
		m := mapping.Mapping{Name: sh.Host(), Share: sh.Token, Policy: sh.Policy}
		for _, f := range fronts {
			c, err := s.appendChange(ctx, tx, f, mapping.Upsert, m)
			if err != nil {
				return err
			}
			changes = append(changes, c)
		}
		return s.charge(ctx, tx, sh.AccountID, changes)
	})
	return changes, err
}

// Share returns one of an account's shares.
func (s *Store) Share(ctx context.Context, accountID, token string) (Share, error) {
	sh, err := scanShare(s.db.QueryRowContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.token = ? AND s.account_id = ?`), token, accountID))
	return sh, notFound(err, "share "+token)
}

// ShareCursor is where a page of shares starts: after the share made at
// CreatedAt with Token. Shares are listed by creation, then token, an order
// that shares made or deleted meanwhile do not reshuffle.
type ShareCursor struct {
	CreatedAt time.Time
	Token     string
}

// Shares lists up to limit of an account's shares, the first page if after
// is nil, and returns the cursor of the next page, nil after the last.
func (s *Store) Shares(ctx context.Context, accountID string, after *ShareCursor, limit int) ([]Share, *ShareCursor, error) {
	return s.sharesPage(ctx, `s.account_id = ?`, []any{accountID}, after, limit)
}

// EachShare calls fn with every share of every account, a page of pageSize
// at a time, for the controller's workers: what they hold is bounded by the
// page, not by the number of shares. fn runs with no query open, so it may
// write. A share made or deleted meanwhile may be missed; none is seen twice.
func (s *Store) EachShare(ctx context.Context, pageSize int, fn func([]Share) error) error {
	var after *ShareCursor
	for {
		page, next, err := s.sharesPage(ctx, "", nil, after, pageSize)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		after = next
	}
}

// sharesPage reads up to limit shares that match where (all if empty) from
// after, in ShareCursor's order, and the cursor of the next page.
func (s *Store) sharesPage(ctx context.Context, where string, args []any, after *ShareCursor, limit int) ([]Share, *ShareCursor, error) {
	var conds []string
	if where != "" {
		conds = append(conds, where)
	}
	if after != nil {
		conds = append(conds, `(s.created_at > ? OR (s.created_at = ? AND s.token > ?))`)
		args = append(args, after.CreatedAt, after.CreatedAt, after.Token)
	}
	q := `SELECT ` + shareColumns + shareFrom
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY s.created_at, s.token LIMIT ?`), append(args, limit+1)...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing shares: %w", err)
	}
	shares, err := collect(rows, scanShare)
	if err != nil || len(shares) <= limit {
		return shares, nil, err
	}
	last := shares[limit-1]
	return shares[:limit], &ShareCursor{CreatedAt: last.CreatedAt, Token: last.Token}, nil
}

// DeleteShare removes one of an account's shares and unmaps its host.
func (s *Store) DeleteShare(ctx context.Context, accountID, token string) (Share, []FrontendChange, error) {
	return s.removeShare(ctx, `s.token = ? AND s.account_id = ?`, token, accountID)
}

// RemoveShare removes a share whoever owns it, for the controller's own
// workers, and unmaps its host.
func (s *Store) RemoveShare(ctx context.Context, token string) (Share, []FrontendChange, error) {
	return s.removeShare(ctx, `s.token = ?`, token)
}

func (s *Store) removeShare(ctx context.Context, where string, args ...any) (Share, []FrontendChange, error) {
	var sh Share
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		sh, err = scanShare(tx.QueryRowContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE `+where), args...))
		if err != nil {
			return notFound(err, fmt.Sprint("share ", args[0]))
		}
		changes, err = s.deleteShare(ctx, tx, sh)
		return err
	})
	return sh, changes, err
}

func (s *Store) deleteShare(ctx context.Context, tx *sql.Tx, sh Share) ([]FrontendChange, error) {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM shares WHERE token = ?`), sh.Token); err != nil {
		return nil, fmt.Errorf("deleting share: %w", err)
	}
	if sh.Reserved {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO released_names (namespace_id, name, account_id, released_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (namespace_id, name) DO UPDATE SET account_id = excluded.account_id, released_at = excluded.released_at`),
			sh.NamespaceID, sh.Name, sh.AccountID, now()); err != nil {
			return nil, fmt.Errorf("recording the released name: %w", err)
		}
	}
	keys, err := s.shareMappings(ctx, tx, sh.Token)
	if err != nil {
		return nil, err
	}
	var changes []FrontendChange
	for _, k := range keys {
		c, err := s.appendChange(ctx, tx, k.frontend, mapping.Delete, mapping.Mapping{Name: k.name})
		if err != nil {
			return nil, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// MarkSharesSeen records that the agents of these shares were serving at,
// in a few statements however many shares there are.
func (s *Store) MarkSharesSeen(ctx context.Context, tokens []string, at time.Time) error {
	const batch = 500
	for len(tokens) > 0 {
		n := min(len(tokens), batch)
		args := make([]any, 0, n+1)
		args = append(args, at)
		for _, tok := range tokens[:n] {
			args = append(args, tok)
		}
		query := `UPDATE shares SET last_seen_at = ? WHERE token IN (?` + strings.Repeat(", ?", n-1) + `)`
		if _, err := s.db.ExecContext(ctx, s.q(query), args...); err != nil {
			return fmt.Errorf("marking shares seen: %w", err)
		}
		tokens = tokens[n:]
	}
	return nil
}

// SetShareService records the Ziti service that serves a share, after the
// reconciler recreated it.
func (s *Store) SetShareService(ctx context.Context, token, serviceID string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE shares SET ziti_service_id = ? WHERE token = ?`), serviceID, token); err != nil {
		return fmt.Errorf("updating share %s service: %w", token, err)
	}
	return nil
}

// MapNamespace makes a frontend serve a namespace, mapping every public
// share already in it.
func (s *Store) MapNamespace(ctx context.Context, frontendID, namespace string) ([]FrontendChange, error) {
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var nsID string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM namespaces WHERE name = ?`), namespace).Scan(&nsID); err != nil {
			return notFound(err, "namespace "+namespace)
		}
		var exists int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM frontends WHERE id = ?`), frontendID).Scan(&exists); err != nil {
			return notFound(err, "frontend "+frontendID)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO frontend_namespaces (frontend_id, namespace_id) VALUES (?, ?)`), frontendID, nsID)
		if isUnique(err) {
			return fmt.Errorf("frontend %s already serves %s: %w", frontendID, namespace, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("mapping namespace: %w", err)
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.namespace_id = ? AND s.share_mode = 'public' ORDER BY s.created_at`), nsID)
		if err != nil {
			return fmt.Errorf("listing namespace shares: %w", err)
		}
		shares, err := collect(rows, scanShare)
		if err != nil {
			return err
		}
		for _, sh := range shares {
			m, err := s.shareMapping(ctx, tx, sh, "")
			if err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, s.q(`SELECT name FROM domains WHERE share_token = ? AND verified_at IS NOT NULL ORDER BY name`), sh.Token)
			if err != nil {
				return fmt.Errorf("listing share domains: %w", err)
			}
			domains, err := collect(rows, scanString)
			if err != nil {
				return err
			}
			for _, name := range append([]string{sh.Host()}, domains...) {
				m.Name = name
				c, err := s.appendChange(ctx, tx, frontendID, mapping.Upsert, m)
				if err != nil {
					return err
				}
				changes = append(changes, c)
			}
		}
		return nil
	})
	return changes, err
}

func (s *Store) namespaceFrontendIDs(ctx context.Context, tx *sql.Tx, namespaceID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT frontend_id FROM frontend_namespaces WHERE namespace_id = ? ORDER BY frontend_id`), namespaceID)
	if err != nil {
		return nil, fmt.Errorf("listing namespace frontends: %w", err)
	}
	return collect(rows, scanString)
}

// DefaultNameQuarantine is how long a released reserved name stays out of
// other accounts' reach unless configured otherwise.
const DefaultNameQuarantine = 24 * time.Hour

// SetNameQuarantine sets how long a released reserved name stays out of
// other accounts' reach; zero or less means DefaultNameQuarantine.
func (s *Store) SetNameQuarantine(d time.Duration) {
	if d <= 0 {
		d = DefaultNameQuarantine
	}
	s.nameQuarantine = d
}

// checkQuarantine refuses a reserved name that another account released
// less than the quarantine ago; its own releaser may take it back at once.
func (s *Store) checkQuarantine(ctx context.Context, tx *sql.Tx, sh Share) error {
	var owner string
	var released time.Time
	err := tx.QueryRowContext(ctx, s.q(`SELECT account_id, released_at FROM released_names WHERE namespace_id = ? AND name = ?`), sh.NamespaceID, sh.Name).
		Scan(&owner, &released)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading released names: %w", err)
	}
	if free := released.Add(s.nameQuarantine); owner != sh.AccountID && now().Before(free) {
		return fmt.Errorf("name %s was released recently; another account may reserve it from %s: %w",
			sh.Host(), free.Format(time.RFC3339), ErrConflict)
	}
	return nil
}

// forgetReleasedNames drops the released names whose quarantine is over.
func (s *Store) forgetReleasedNames(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM released_names WHERE released_at < ?`), now().Add(-s.nameQuarantine)); err != nil {
		return fmt.Errorf("forgetting released names: %w", err)
	}
	return nil
}

// ShareByToken returns a share whoever owns it, for the accounts that
// access private shares by their token.
func (s *Store) ShareByToken(ctx context.Context, token string) (Share, error) {
	sh, err := scanShare(s.db.QueryRowContext(ctx, s.q(`SELECT `+shareColumns+shareFrom+` WHERE s.token = ?`), token))
	return sh, notFound(err, "share "+token)
}
