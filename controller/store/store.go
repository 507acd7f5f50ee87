// Package store keeps the controller's accounts, environments, namespaces,
// frontends and shares, and each frontend's numbered mapping journal.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

var (
	// ErrNotFound is returned when an object does not exist, or belongs to
	// another account.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a unique name is already taken.
	ErrConflict = errors.New("already exists")
	// ErrLimit is returned when an object would exceed a bound on how many
	// of its kind there may be.
	ErrLimit = errors.New("limit reached")
)

// Store is the controller's database.
type Store struct {
	db       *sql.DB
	postgres bool
	// journalBudget is the bytes of mapping changes an account may journal per hour.
	journalBudget int64
	// nameQuarantine is how long a released reserved name waits for other accounts.
	nameQuarantine time.Duration
}

// Open opens the database named by dsn and applies any pending migrations.
// "postgres://…" (or "postgresql://…") opens PostgreSQL, for a cluster of
// controllers; "sqlite:PATH" (or a bare path) opens an embedded SQLite
// database.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok && strings.Contains(dsn, "://") {
		return nil, fmt.Errorf("unsupported store %q: want postgres://… or sqlite:PATH", dsn)
	}
	path = strings.TrimPrefix(path, "//")
	// WAL lets readers run beside the writer; an immediate transaction takes
	// the write lock up front, so concurrent writers queue (busy_timeout)
	// instead of failing on a lock upgrade.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	s := &Store{db: db, journalBudget: DefaultJournalBudget, nameQuarantine: DefaultNameQuarantine}
	if err := s.migrate(ctx, goose.DialectSQLite3); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	db.SetMaxOpenConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	// Controllers that start together take turns at the migrations.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("creating migration lock: %w", err)
	}
	s := &Store{db: db, postgres: true, journalBudget: DefaultJournalBudget, nameQuarantine: DefaultNameQuarantine}
	if err := s.migrate(ctx, goose.DialectPostgres, goose.WithSessionLocker(locker)); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context, dialect goose.Dialect, opts ...goose.ProviderOption) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(s.agentsOutOfPolicies()))
	p, err := goose.NewProvider(dialect, s.db, dir, opts...)
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating store: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// q rewrites the '?' placeholders of a query for the store's dialect.
func (s *Store) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// txAttempts bounds the retries of a transaction that PostgreSQL aborted to
// break a deadlock or a serialization conflict between controllers.
const txAttempts = 5

// tx runs fn in a transaction and commits it if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil || attempt == txAttempts || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// retryable reports whether err is PostgreSQL breaking a deadlock (40P01) or
// a serialization conflict (40001); the transaction can simply run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isForeignKey reports whether err is a foreign-key violation: the row
// referred to does not exist.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
