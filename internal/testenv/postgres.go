package testenv

// This file gives each test its own PostgreSQL database on the local server.

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresAdminDSN is the server the tests use: $PORTICO_TEST_POSTGRES (a
// postgres:// URL), or the local one with trust auth.
func PostgresAdminDSN() string {
	if dsn := os.Getenv("PORTICO_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Postgres creates a database with a unique name, drops it when the test
// ends, and returns its DSN. Without a server it fails in CI and skips
// elsewhere.
func Postgres(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn, drop, err := CreatePostgresDB(ctx)
	Require(tb, "PostgreSQL", err)
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Log(err)
		}
	})
	return dsn
}

// CreatePostgresDB creates a database with a unique name on the server of
// PostgresAdminDSN and returns its DSN and a function that drops it. It is
// Postgres for programs, such as the benchmark harness, that have no test.
func CreatePostgresDB(ctx context.Context) (dsn string, drop func() error, err error) {
	admin, err := sql.Open("pgx", PostgresAdminDSN())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		return "", nil, err
	}
	u, err := url.Parse(PostgresAdminDSN())
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("PostgreSQL DSN must be a URL: %w", err)
	}
	name := fmt.Sprintf("portico_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("creating test database: %w", err)
	}
	drop = func() error {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("dropping test database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
