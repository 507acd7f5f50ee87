package store

// Namespaces and the accounts a closed one admits.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Namespace is a DNS suffix, such as "share.example.com", under which shares get names.
type Namespace struct {
	ID   string
	Name string
	// Open namespaces take shares from every account; closed ones only from
	// the accounts granted them.
	Open      bool
	CreatedAt time.Time
}

// CreateNamespace adds a namespace.
// A namespace that holds a share's verified custom domain (the domain is
// the namespace or inside it) is refused: its names would compete with the
// domain for the same hosts. (An unverified one is checked again when it is
// verified.)
func (s *Store) CreateNamespace(ctx context.Context, n Namespace) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT name FROM domains WHERE verified_at IS NOT NULL AND (name = ? OR name LIKE ?) ORDER BY name`), n.Name, "%."+n.Name)
		if err != nil {
			return fmt.Errorf("reading domains: %w", err)
		}
		inside, err := collect(rows, scanString)
		if err != nil {
			return err
		}
		if len(inside) > 0 {
			return fmt.Errorf("namespace %s would hold the custom domain %s of a share: %w", n.Name, strings.Join(inside, ", "), ErrConflict)
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO namespaces (id, name, open, created_at) VALUES (?, ?, ?, ?)`), n.ID, n.Name, n.Open, n.CreatedAt)
		if isUnique(err) {
			return fmt.Errorf("namespace %s: %w", n.Name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("creating namespace: %w", err)
		}
		return nil
	})
}

func scanNamespace(row interface{ Scan(...any) error }) (Namespace, error) {
	var n Namespace
	err := row.Scan(&n.ID, &n.Name, &n.Open, &n.CreatedAt)
	return n, err
}

// GrantNamespace lets an account, named by its email, share in a closed namespace.
func (s *Store) GrantNamespace(ctx context.Context, namespace, email string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var nsID, acctID string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM namespaces WHERE name = ?`), namespace).Scan(&nsID); err != nil {
			return notFound(err, "namespace "+namespace)
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM accounts WHERE email = ?`), email).Scan(&acctID); err != nil {
			return notFound(err, "account "+email)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO namespace_grants (namespace_id, account_id) VALUES (?, ?)`), nsID, acctID)
		if isUnique(err) {
			return fmt.Errorf("%s is already granted %s: %w", email, namespace, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("granting namespace: %w", err)
		}
		return nil
	})
}

// MayUseNamespace reports whether an account may share in a namespace.
func (s *Store) MayUseNamespace(ctx context.Context, n Namespace, accountID string) (bool, error) {
	if n.Open {
		return true, nil
	}
	var granted int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM namespace_grants WHERE namespace_id = ? AND account_id = ?`), n.ID, accountID).Scan(&granted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading namespace grants: %w", err)
	}
	return true, nil
}

// NamespaceByName finds a namespace by its DNS suffix.
func (s *Store) NamespaceByName(ctx context.Context, name string) (Namespace, error) {
	n, err := scanNamespace(s.db.QueryRowContext(ctx, s.q(`SELECT id, name, open, created_at FROM namespaces WHERE name = ?`), name))
	return n, notFound(err, "namespace "+name)
}

// Namespaces lists every namespace.
func (s *Store) Namespaces(ctx context.Context) ([]Namespace, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, open, created_at FROM namespaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	return collect(rows, scanNamespace)
}
