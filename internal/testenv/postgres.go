// This file gives each test its own PostgreSQL database on the local server.
package testenv

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
	admin, err := sql.Open("pgx", PostgresAdminDSN())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	Require(tb, "PostgreSQL", err)
	name := fmt.Sprintf("portico_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		admin.Close()
		tb.Fatalf("creating test database: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(PostgresAdminDSN())
	if err != nil {
		tb.Fatalf("PostgreSQL DSN must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
