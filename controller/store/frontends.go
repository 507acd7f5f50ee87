package store

// Frontend records and the namespaces they serve.

import (
	"context"
	"fmt"
	"time"
)

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
