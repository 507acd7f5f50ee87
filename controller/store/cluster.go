package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Controller is a live controller process.
type Controller struct {
	ID          string
	APIAddress  string
	GRPCAddress string
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Instance is a live frontend instance.
type Instance struct {
	ID              string
	Frontend        string
	AppliedRevision int64
	Revision        int64 // the frontend's revision in the store
	Lag             int64 // how many changes the instance is behind
	Mappings        int64
	Version         string
	Controller      string
	HeartbeatAt     time.Time
}

// Lease is who runs a singleton worker until when.
type Lease struct {
	Name      string
	Holder    string
	ExpiresAt time.Time
}

// HeartbeatController records that a controller is alive.
func (s *Store) HeartbeatController(ctx context.Context, c Controller) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO controllers (id, api_address, grpc_address, version, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET api_address = excluded.api_address, grpc_address = excluded.grpc_address, heartbeat_at = excluded.heartbeat_at`),
		c.ID, c.APIAddress, c.GRPCAddress, c.Version, c.StartedAt, c.HeartbeatAt)
	if err != nil {
		return fmt.Errorf("recording controller heartbeat: %w", err)
	}
	return nil
}

// RemoveController forgets a controller that is stopping.
func (s *Store) RemoveController(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM controllers WHERE id = ?`), id); err != nil {
		return fmt.Errorf("removing controller: %w", err)
	}
	return nil
}

// Controllers lists the controllers that heartbeated since.
func (s *Store) Controllers(ctx context.Context, since time.Time) ([]Controller, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, api_address, grpc_address, version, started_at, heartbeat_at FROM controllers WHERE heartbeat_at >= ? ORDER BY started_at, id`), since)
	if err != nil {
		return nil, fmt.Errorf("listing controllers: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (Controller, error) {
		var c Controller
		return c, r.Scan(&c.ID, &c.APIAddress, &c.GRPCAddress, &c.Version, &c.StartedAt, &c.HeartbeatAt)
	})
}

// HeartbeatInstance records a frontend instance's state.
func (s *Store) HeartbeatInstance(ctx context.Context, in Instance) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO frontend_instances (id, frontend_id, applied_revision, mappings, version, controller_id, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET frontend_id = excluded.frontend_id, applied_revision = excluded.applied_revision, mappings = excluded.mappings,
			version = excluded.version, controller_id = excluded.controller_id, heartbeat_at = excluded.heartbeat_at`),
		in.ID, in.Frontend, in.AppliedRevision, in.Mappings, in.Version, in.Controller, in.HeartbeatAt)
	if err != nil {
		return fmt.Errorf("recording instance heartbeat: %w", err)
	}
	return nil
}

// Instances lists the frontend instances that heartbeated since, with their
// lag behind the store.
func (s *Store) Instances(ctx context.Context, since time.Time) ([]Instance, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT i.id, i.frontend_id, i.applied_revision, f.revision, i.mappings, i.version, i.controller_id, i.heartbeat_at
		FROM frontend_instances i JOIN frontends f ON f.id = i.frontend_id WHERE i.heartbeat_at >= ? ORDER BY i.frontend_id, i.id`), since)
	if err != nil {
		return nil, fmt.Errorf("listing frontend instances: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (Instance, error) {
		var in Instance
		err := r.Scan(&in.ID, &in.Frontend, &in.AppliedRevision, &in.Revision, &in.Mappings, &in.Version, &in.Controller, &in.HeartbeatAt)
		in.Lag = max(in.Revision-in.AppliedRevision, 0)
		return in, err
	})
}

// ForgetStale deletes controller and instance rows that stopped
// heartbeating before the given time, and released names whose quarantine
// is over.
func (s *Store) ForgetStale(ctx context.Context, before time.Time) error {
	if err := s.forgetReleasedNames(ctx); err != nil {
		return err
	}
	for _, table := range []string{"controllers", "frontend_instances"} {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE heartbeat_at < ?`), before); err != nil {
			return fmt.Errorf("forgetting stale %s: %w", table, err)
		}
	}
	return nil
}

// AcquireLease takes or renews the named lease for holder until expires. It
// reports whether holder has the lease: it fails only while another holder's
// lease is unexpired.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error) {
	var held bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)`),
			holder, expires, name, holder, now)
		if err != nil {
			return fmt.Errorf("renewing lease %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			held = true
			return nil
		}
		res, err = tx.ExecContext(ctx, s.q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`), name, holder, expires)
		if err != nil {
			return fmt.Errorf("taking lease %s: %w", name, err)
		}
		n, _ := res.RowsAffected()
		held = n == 1
		return nil
	})
	return held, err
}

// ReleaseLease gives up the named lease if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder); err != nil {
		return fmt.Errorf("releasing lease %s: %w", name, err)
	}
	return nil
}

// Leases lists every lease.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, holder, expires_at FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing leases: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (Lease, error) {
		var l Lease
		return l, r.Scan(&l.Name, &l.Holder, &l.ExpiresAt)
	})
}

// CompactJournal deletes each frontend's journal entries older than before,
// but keeps at least the newest keep of them, so that a frontend a little
// behind can still catch up without a snapshot.
func (s *Store) CompactJournal(ctx context.Context, before time.Time, keep int64) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM journal WHERE created_at < ?
		AND revision <= (SELECT f.revision FROM frontends f WHERE f.id = journal.frontend_id) - ?`), before, keep)
	if err != nil {
		return 0, fmt.Errorf("compacting journal: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, s.forgetJournalUsage(ctx, before.Add(-time.Hour))
}

// DeploymentID returns the id of this deployment (every controller on this
// database), making it on first use.
func (s *Store) DeploymentID(ctx context.Context, fresh string) (string, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES ('deployment', ?) ON CONFLICT (name) DO NOTHING`), fresh); err != nil {
		return "", fmt.Errorf("recording deployment id: %w", err)
	}
	var id string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'deployment'`).Scan(&id); err != nil {
		return "", fmt.Errorf("reading deployment id: %w", err)
	}
	return id, nil
}
