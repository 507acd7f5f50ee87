// Package certstore keeps certmagic's certificates, keys and locks in
// PostgreSQL, so that every frontend instance of a cluster shares them: a
// certificate is obtained once, and any instance can answer its challenge.
//
// It is written here because no maintained Caddy storage module for
// PostgreSQL or Redis can be had from the module proxy this project builds
// with; it is small, and its locking is tested against a real database.
package certstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// defaultLockTTL is how long a lock outlives its holder's last refresh,
	// so the lock of a crashed instance frees itself.
	defaultLockTTL = time.Minute
	// lockPoll is how often a waiting Lock tries again.
	lockPoll = time.Second
)

// Storage is a certmagic.Storage on PostgreSQL.
type Storage struct {
	pool *pgxpool.Pool
	id   string        // names this instance as a lock holder
	ttl  time.Duration // defaultLockTTL; shorter in tests

	setupMu sync.Mutex
	ready   bool

	mu    sync.Mutex
	locks map[string]context.CancelFunc // the refreshers of the locks held here
}

// New returns a storage on the database at dsn. It connects on first use.
func New(dsn string) (*Storage, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate storage dsn: %w", err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("creating certificate storage pool: %w", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &Storage{pool: pool, id: hex.EncodeToString(b), ttl: defaultLockTTL, locks: map[string]context.CancelFunc{}}, nil
}

// Close releases the connections.
func (s *Storage) Close() { s.pool.Close() }

// setup creates the tables once.
func (s *Storage) setup(ctx context.Context) error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.ready {
		return nil
	}
	// CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL, so the
	// instances that start together take turns under an advisory lock.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('portico_certmagic_setup'))`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS portico_certmagic_data (
			key      TEXT PRIMARY KEY,
			value    BYTEA NOT NULL,
			modified TIMESTAMPTZ NOT NULL DEFAULT now()
		);
		CREATE TABLE IF NOT EXISTS portico_certmagic_locks (
			name    TEXT PRIMARY KEY,
			holder  TEXT NOT NULL,
			expires TIMESTAMPTZ NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating certificate storage tables: %w", err)
	}
	s.ready = true
	return nil
}

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := s.setup(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO portico_certmagic_data (key, value, modified) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	var value []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM portico_certmagic_data WHERE key = $1`, key).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	return value, nil
}

// Delete removes key and every key below it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := s.setup(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM portico_certmagic_data WHERE key = $1 OR starts_with(key, $2)`, key, dir(key))
	if err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key is a stored value or a prefix of one.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	if s.setup(ctx) != nil {
		return false
	}
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM portico_certmagic_data WHERE key = $1 OR starts_with(key, $2))`, key, dir(key)).Scan(&exists)
	return err == nil && exists
}

// List returns the keys below path: all of them if recursive, else only its
// immediate children (files and directories).
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	prefix := dir(path)
	rows, err := s.pool.Query(ctx, `SELECT key FROM portico_certmagic_data WHERE starts_with(key, $1) ORDER BY key`, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", path, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fs.ErrNotExist
	}
	if recursive {
		return keys, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		child, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), "/")
		if child = prefix + child; !seen[child] {
			seen[child] = true
			out = append(out, child)
		}
	}
	return out, nil
}

// Stat describes key, which may be a value or a directory.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := s.setup(ctx); err != nil {
		return certmagic.KeyInfo{}, err
	}
	var size int64
	var modified time.Time
	err := s.pool.QueryRow(ctx, `SELECT length(value), modified FROM portico_certmagic_data WHERE key = $1`, key).Scan(&size, &modified)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: modified, Size: size, IsTerminal: true}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("reading %s: %w", key, err)
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fs.ErrNotExist
}

// Lock takes the named lock, waiting while another holder has it. The lock
// is refreshed while held, and frees itself defaultLockTTL after a holder crashed.
func (s *Storage) Lock(ctx context.Context, name string) error {
	if err := s.setup(ctx); err != nil {
		return err
	}
	for {
		ok, err := s.tryLock(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockPoll):
		}
	}
	refresh, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	s.locks[name] = stop
	s.mu.Unlock()
	go s.keepLock(refresh, name)
	return nil
}

// TryLock takes the named lock if it is free.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	if err := s.setup(ctx); err != nil {
		return false, err
	}
	ok, err := s.tryLock(ctx, name)
	if ok {
		refresh, stop := context.WithCancel(context.Background())
		s.mu.Lock()
		s.locks[name] = stop
		s.mu.Unlock()
		go s.keepLock(refresh, name)
	}
	return ok, err
}

func (s *Storage) tryLock(ctx context.Context, name string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO portico_certmagic_locks (name, holder, expires) VALUES ($1, $2, now() + $3::interval)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires WHERE portico_certmagic_locks.expires < now()`,
		name, s.id, s.ttl.String())
	if err != nil {
		return false, fmt.Errorf("taking lock %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Storage) keepLock(ctx context.Context, name string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.ttl / 3):
		}
		s.pool.Exec(ctx, `UPDATE portico_certmagic_locks SET expires = now() + $3::interval WHERE name = $1 AND holder = $2`, name, s.id, s.ttl.String())
	}
}

// Unlock releases the named lock.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	if stop := s.locks[name]; stop != nil {
		stop()
		delete(s.locks, name)
	}
	s.mu.Unlock()
	// Only our own: a lock that expired and passed on is not ours to free.
	if _, err := s.pool.Exec(ctx, `DELETE FROM portico_certmagic_locks WHERE name = $1 AND holder = $2`, name, s.id); err != nil {
		return fmt.Errorf("releasing lock %s: %w", name, err)
	}
	return nil
}

// dir is key as a directory prefix; the root is "".
func dir(key string) string {
	if key = strings.TrimSuffix(key, "/"); key == "" {
		return ""
	}
	return key + "/"
}

// Interface guards
var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)
