package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/porticoproxy/portico/internal/mapping"
)

// Domain is an account's own domain attached to one of its reserved shares.
// Frontends serve it once the account has proven it controls it.
type Domain struct {
	Name       string
	ShareToken string
	// Challenge is the value the domain's TXT record must hold.
	Challenge  string
	VerifiedAt sql.NullTime
	CreatedAt  time.Time
}

// Verified reports whether the domain is proven and mapped.
func (d Domain) Verified() bool { return d.VerifiedAt.Valid }

const domainColumns = `name, share_token, challenge, verified_at, created_at`

func scanDomain(row interface{ Scan(...any) error }) (Domain, error) {
	var d Domain
	err := row.Scan(&d.Name, &d.ShareToken, &d.Challenge, &d.VerifiedAt, &d.CreatedAt)
	return d, err
}

// AddDomain claims a domain for a share, unverified. A domain that another
// share has already verified is taken.
func (s *Store) AddDomain(ctx context.Context, d Domain) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var taken int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM domains WHERE name = ? AND verified_at IS NOT NULL`), d.Name).Scan(&taken)
		if err == nil {
			return fmt.Errorf("domain %s is in use: %w", d.Name, ErrConflict)
		}
		if err != sql.ErrNoRows {
			return fmt.Errorf("reading domains: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO domains (`+domainColumns+`) VALUES (?, ?, ?, NULL, ?)`), d.Name, d.ShareToken, d.Challenge, d.CreatedAt)
		if isUnique(err) {
			return fmt.Errorf("domain %s is already attached to share %s: %w", d.Name, d.ShareToken, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("adding domain: %w", err)
		}
		return nil
	})
}

// Domain returns a domain claimed by a share.
func (s *Store) Domain(ctx context.Context, token, name string) (Domain, error) {
	d, err := scanDomain(s.db.QueryRowContext(ctx, s.q(`SELECT `+domainColumns+` FROM domains WHERE share_token = ? AND name = ?`), token, name))
	return d, notFound(err, "domain "+name)
}

// Domains lists the domains claimed by a share.
func (s *Store) Domains(ctx context.Context, token string) ([]Domain, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+domainColumns+` FROM domains WHERE share_token = ? ORDER BY name`), token)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	return collect(rows, scanDomain)
}

// VerifyDomain marks a share's domain proven and maps it on every frontend
// that serves the share's namespace.
func (s *Store) VerifyDomain(ctx context.Context, sh Share, name string) ([]FrontendChange, error) {
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`UPDATE domains SET verified_at = ? WHERE share_token = ? AND name = ? AND verified_at IS NULL`), now(), sh.Token, name)
		if isUnique(err) {
			return fmt.Errorf("domain %s is in use by another share: %w", name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("verifying domain: %w", err)
		}
		fronts, err := s.namespaceFrontendIDs(ctx, tx, sh.NamespaceID)
		if err != nil {
			return err
		}
		m, err := s.shareMapping(ctx, tx, sh, name)
		if err != nil {
			return err
		}
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

// DeleteDomain detaches a domain from a share and unmaps it.
func (s *Store) DeleteDomain(ctx context.Context, token, name string) ([]FrontendChange, error) {
	var changes []FrontendChange
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM domains WHERE share_token = ? AND name = ?`), token, name)
		if err != nil {
			return fmt.Errorf("deleting domain: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("domain %s: %w", name, ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT frontend_id FROM mappings WHERE share_token = ? AND name = ? ORDER BY frontend_id`), token, name)
		if err != nil {
			return fmt.Errorf("listing domain mappings: %w", err)
		}
		fronts, err := collect(rows, scanString)
		if err != nil {
			return err
		}
		for _, f := range fronts {
			c, err := s.appendChange(ctx, tx, f, mapping.Delete, mapping.Mapping{Name: name})
			if err != nil {
				return err
			}
			changes = append(changes, c)
		}
		return nil
	})
	return changes, err
}
