package caddymodule

// storage.go holds the certificate storage on PostgreSQL that all frontend
// instances of a cluster share.

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"

	"github.com/porticoproxy/portico/internal/certstore"
)

func init() {
	caddy.RegisterModule(PostgresStorage{})
}

// PostgresStorage keeps certificates, keys and locks in PostgreSQL, so that
// the frontend instances of a cluster obtain a certificate once and any of
// them can answer its challenge.
type PostgresStorage struct {
	// DSN is the database's URL, such as
	// postgres://user:pass@db:5432/certs?sslmode=verify-full.
	// Placeholders such as {env.PORTICO_CERTS_DSN} are replaced.
	DSN string `json:"dsn,omitempty"`

	key     string
	storage *certstore.Storage
}

// stores holds one connection pool per database, kept across config reloads.
var stores = caddy.NewUsagePool()

// CaddyModule returns the Caddy module information.
func (PostgresStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.storage.portico_postgres",
		New: func() caddy.Module { return new(PostgresStorage) },
	}
}

// Provision takes a reference to the database's pool; it connects lazily.
func (s *PostgresStorage) Provision(caddy.Context) error {
	s.key = s.DSN
	if err := expand("portico_postgres storage", map[string]*string{"dsn": &s.key}); err != nil {
		return err
	}
	if s.key == "" {
		return errors.New("portico_postgres storage: a dsn is required")
	}
	val, _, err := stores.LoadOrNew(s.key, func() (caddy.Destructor, error) {
		st, err := certstore.New(s.key)
		if err != nil {
			return nil, err
		}
		return destructibleStore{st}, nil
	})
	if err != nil {
		s.key = ""
		return err
	}
	s.storage = val.(destructibleStore).Storage
	return nil
}

// CertMagicStorage returns the storage.
func (s *PostgresStorage) CertMagicStorage() (certmagic.Storage, error) {
	return s.storage, nil
}

// Cleanup drops the reference to the pool.
func (s *PostgresStorage) Cleanup() error {
	if s.key == "" {
		return nil
	}
	_, err := stores.Delete(s.key)
	return err
}

// UnmarshalCaddyfile sets up the storage from `storage portico_postgres <dsn>`.
func (s *PostgresStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume module name
	if !d.AllArgs(&s.DSN) {
		return d.ArgErr()
	}
	return nil
}

type destructibleStore struct{ *certstore.Storage }

func (d destructibleStore) Destruct() error {
	d.Close()
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner      = (*PostgresStorage)(nil)
	_ caddy.CleanerUpper     = (*PostgresStorage)(nil)
	_ caddy.StorageConverter = (*PostgresStorage)(nil)
	_ caddyfile.Unmarshaler  = (*PostgresStorage)(nil)
)
