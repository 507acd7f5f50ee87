package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Account is a user of the controller.
type Account struct {
	ID        string
	Email     string
	CreatedAt time.Time
}

// Environment is one machine of an account, with its own Ziti identity.
type Environment struct {
	ID             string
	AccountID      string
	Description    string
	Host           string
	ZitiIdentityID string
	CreatedAt      time.Time
}

// Namespace is a DNS suffix, such as "share.example.com", under which shares get names.
type Namespace struct {
	ID   string
	Name string
	// Open namespaces take shares from every account; closed ones only from
	// the accounts granted them.
	Open      bool
	CreatedAt time.Time
}

// Frontend is a group of frontend instances that share one token and identity.
type Frontend struct {
	ID             string
	SecretHash     string
	Description    string
	URLTemplate    string
	ZitiIdentityID string
	Revision       int64
	Namespaces     []string
	// NamespaceIDs are the ids of Namespaces, in the same order.
	NamespaceIDs []string
	CreatedAt    time.Time
}

// CreateAccount adds an account with the hash of its token.
func (s *Store) CreateAccount(ctx context.Context, a Account, tokenHash string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO accounts (id, email, token_hash, created_at) VALUES (?, ?, ?, ?)`),
		a.ID, a.Email, tokenHash, a.CreatedAt)
	if isUnique(err) {
		return fmt.Errorf("account %s: %w", a.Email, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("creating account: %w", err)
	}
	return nil
}

// AccountByTokenHash finds the account whose token hashes to tokenHash.
func (s *Store) AccountByTokenHash(ctx context.Context, tokenHash string) (Account, error) {
	var a Account
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, email, created_at FROM accounts WHERE token_hash = ?`), tokenHash).
		Scan(&a.ID, &a.Email, &a.CreatedAt)
	return a, notFound(err, "account")
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

// CreateFrontend adds a frontend with the hash of its secret.
func (s *Store) CreateFrontend(ctx context.Context, f Frontend) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO frontends (id, secret_hash, description, url_template, ziti_identity_id, revision, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)`),
		f.ID, f.SecretHash, f.Description, f.URLTemplate, f.ZitiIdentityID, f.CreatedAt)
	if err != nil {
		return fmt.Errorf("creating frontend: %w", err)
	}
	return nil
}

const frontendColumns = `f.id, f.secret_hash, f.description, f.url_template, f.ziti_identity_id, f.revision, f.created_at`

func scanFrontend(row interface{ Scan(...any) error }) (Frontend, error) {
	var f Frontend
	err := row.Scan(&f.ID, &f.SecretHash, &f.Description, &f.URLTemplate, &f.ZitiIdentityID, &f.Revision, &f.CreatedAt)
	return f, err
}

// Frontend returns a frontend by its token.
func (s *Store) Frontend(ctx context.Context, id string) (Frontend, error) {
	f, err := scanFrontend(s.db.QueryRowContext(ctx, s.q(`SELECT `+frontendColumns+` FROM frontends f WHERE f.id = ?`), id))
	return f, notFound(err, "frontend "+id)
}

// Frontends lists every frontend with the namespaces it serves.
func (s *Store) Frontends(ctx context.Context) ([]Frontend, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+frontendColumns+` FROM frontends f ORDER BY f.created_at`)
	if err != nil {
		return nil, fmt.Errorf("listing frontends: %w", err)
	}
	fs, err := collect(rows, scanFrontend)
	if err != nil {
		return nil, err
	}
	for i := range fs {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT n.id, n.name FROM namespaces n JOIN frontend_namespaces fn ON fn.namespace_id = n.id WHERE fn.frontend_id = ? ORDER BY n.name`), fs[i].ID)
		if err != nil {
			return nil, fmt.Errorf("listing frontend namespaces: %w", err)
		}
		nss, err := collect(rows, func(r interface{ Scan(...any) error }) ([2]string, error) {
			var n [2]string
			return n, r.Scan(&n[0], &n[1])
		})
		if err != nil {
			return nil, err
		}
		for _, n := range nss {
			fs[i].NamespaceIDs, fs[i].Namespaces = append(fs[i].NamespaceIDs, n[0]), append(fs[i].Namespaces, n[1])
		}
	}
	return fs, nil
}

// FrontendNamespaceIDs lists the ids of the namespaces a frontend serves.
func (s *Store) FrontendNamespaceIDs(ctx context.Context, frontendID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT namespace_id FROM frontend_namespaces WHERE frontend_id = ? ORDER BY namespace_id`), frontendID)
	if err != nil {
		return nil, fmt.Errorf("listing frontend namespaces: %w", err)
	}
	return collect(rows, scanString)
}

// NamespaceFrontends lists the frontends that serve a namespace.
func (s *Store) NamespaceFrontends(ctx context.Context, namespaceID string) ([]Frontend, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+frontendColumns+` FROM frontends f JOIN frontend_namespaces fn ON fn.frontend_id = f.id WHERE fn.namespace_id = ? ORDER BY f.created_at`), namespaceID)
	if err != nil {
		return nil, fmt.Errorf("listing namespace frontends: %w", err)
	}
	return collect(rows, scanFrontend)
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("reading row: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading rows: %w", err)
	}
	return out, nil
}

func scanString(r interface{ Scan(...any) error }) (string, error) {
	var v string
	return v, r.Scan(&v)
}
