package testenv

// This file runs Pebble, Let's Encrypt's test ACME server, in process.

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Pebble is a running ACME server.
type Pebble struct {
	// DirectoryURL is the ACME directory to give an ACME client.
	DirectoryURL string
	// ServerRootFile is a PEM file with the certificate of the ACME server
	// itself, which the ACME client must trust (Caddy's acme_ca_root).
	ServerRootFile string
	// Roots verifies the certificates Pebble issues.
	Roots *x509.CertPool

	orders atomic.Int64
}

// Orders is how many certificate orders Pebble has received.
func (p *Pebble) Orders() int64 { return p.orders.Load() }

// StartPebble runs Pebble on loopback until the test ends. Domain validation
// always succeeds (PEBBLE_VA_ALWAYS_VALID): the tests are about which names
// a frontend asks certificates for, not about the challenges.
func StartPebble(tb testing.TB) *Pebble {
	tb.Helper()
	tb.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	tb.Setenv("PEBBLE_VA_NOSLEEP", "1")
	tb.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, 0, false, "", store)
	front := wfe.New(logger, store, validator, authority, nil, false, false, 3, 5)

	p := &Pebble{}
	acme := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		acme.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	p.DirectoryURL = srv.URL + wfe.DirectoryPath

	p.ServerRootFile = filepath.Join(tb.TempDir(), "pebble-server.pem")
	serverPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p.ServerRootFile, serverPEM, 0o600); err != nil {
		tb.Fatal(err)
	}

	rec := httptest.NewRecorder()
	front.ManagementHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, wfe.RootCertPath+"0", nil))
	p.Roots = x509.NewCertPool()
	if rec.Code != http.StatusOK || !p.Roots.AppendCertsFromPEM(rec.Body.Bytes()) {
		tb.Fatalf("reading Pebble's root: %d %s", rec.Code, rec.Body.String())
	}
	return p
}
