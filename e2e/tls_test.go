package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/porticoproxy/portico/deploy"
	"github.com/porticoproxy/portico/internal/testenv"
)

// tlsFrontend is a Caddy process that serves the e2e namespace over HTTPS
// with on-demand certificates from Pebble, allowed by tls.permission.portico.
type tlsFrontend struct {
	proc
	httpsAddr string
	adminAddr string
	pebble    *testenv.Pebble
}

// startTLSFrontend starts a TLS frontend that gets certificates from pebble
// and keeps them in storage (the arguments of Caddy's storage option; "" for
// file system storage of its own).
func startTLSFrontend(t *testing.T, pebble *testenv.Pebble, storage string) *tlsFrontend {
	t.Helper()
	dir := t.TempDir()
	fe, idFile := newFrontendRecord(t, stack.admin, dir, "tls", "https://{host}", namespace)

	f := &tlsFrontend{httpsAddr: testenv.FreeAddr(), adminAddr: testenv.FreeAddr(), pebble: pebble}
	_, httpsPort, _ := net.SplitHostPort(f.httpsAddr)
	_, httpPort, _ := net.SplitHostPort(testenv.FreeAddr())
	p, _, err := testenv.FrontendProc(dir, "tls-frontend", filepath.Join(filepath.Dir(stack.portico), "caddy"), fe.Secret, deploy.Frontend{
		Admin:   f.adminAddr,
		Storage: storage,
		Global: []string{"http_port " + httpPort, "https_port " + httpsPort,
			"acme_ca " + f.pebble.DirectoryURL, "acme_ca_root " + f.pebble.ServerRootFile, "email tls-test@example.com"},
		Controllers: []string{stack.ctrlAddrs[1]},
		Frontend:    fe.Token,
		Identity:    idFile,
		Options:     []string{"resync_interval 2s"},
		OnDemandTLS: true,
		Site:        "https://",
		Bind:        "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.proc = proc{*p}
	f.start(t)
	t.Cleanup(f.Kill)
	wantWithin(t, 20*time.Second, "the TLS frontend to listen", func() error {
		if !f.Alive() {
			t.Fatalf("the TLS frontend exited:\n%s", f.LogTail())
		}
		c, err := net.Dial("tcp", f.httpsAddr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return f
}

// get fetches https://host/ through the frontend, trusting only Pebble's root.
func (f *tlsFrontend) get(host string) (*http.Response, error) {
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: f.pebble.Roots, ServerName: host},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, f.httpsAddr)
		},
	}}
	resp, err := cl.Get("https://" + host + "/")
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func TestOnDemandTLSForLiveSharesOnly(t *testing.T) {
	f := startTLSFrontend(t, testenv.StartPebble(t), "")
	_, home := account(t, "tls")
	ag := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the share over plain HTTP", wantStatus(ag.host, http.StatusOK))

	t.Run("a live share gets a certificate", func(t *testing.T) {
		var resp *http.Response
		wantWithin(t, 30*time.Second, "an HTTPS answer through the share", func() error {
			var err error
			resp, err = f.get(ag.host)
			return err
		})
		if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.PeerCertificates[0].VerifyHostname(ag.host) != nil {
			t.Fatalf("HTTPS answer %d with certificate for %v", resp.StatusCode, resp.TLS.PeerCertificates[0].DNSNames)
		}
		if n := f.pebble.Orders(); n != 1 {
			t.Errorf("Pebble got %d orders, want 1", n)
		}
	})

	t.Run("an unmapped host gets no certificate and no order", func(t *testing.T) {
		before := f.pebble.Orders()
		if _, err := f.get("nobody." + namespace); err == nil {
			t.Fatal("a TLS handshake for an unmapped host succeeded")
		}
		if n := f.pebble.Orders(); n != before {
			t.Errorf("Pebble got %d new orders for an unmapped host", n-before)
		}
	})

	t.Run("a deleted share gets no new certificate", func(t *testing.T) {
		_, home := account(t, "tls-gone")
		gone := startAgent(t, home, newBackend(t).URL)
		wantWithin(t, 5*time.Second, "the second share", wantStatus(gone.host, http.StatusOK))
		gone.stop(t)
		wantWithin(t, 5*time.Second, "the deleted share to leave the TLS frontend", func() error {
			_, ms, err := adminMappings(f.adminAddr)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if m.Name == gone.host {
					return fmt.Errorf("still maps %s", gone.host)
				}
			}
			return nil
		})
		before := f.pebble.Orders()
		if _, err := f.get(gone.host); err == nil {
			t.Fatal("a TLS handshake for a deleted share succeeded")
		}
		if n := f.pebble.Orders(); n != before {
			t.Errorf("Pebble got %d new orders for a deleted share", n-before)
		}
	})
	ag.stop(t)
}

// TestClusterObtainsOneCertificate: two frontend instances on one
// PostgreSQL certificate storage obtain one certificate between them.
func TestClusterObtainsOneCertificate(t *testing.T) {
	pebble := testenv.StartPebble(t)
	storage := "portico_postgres " + testenv.Postgres(t)
	a := startTLSFrontend(t, pebble, storage)
	b := startTLSFrontend(t, pebble, storage)
	_, home := account(t, "tls-shared")
	ag := startAgent(t, home, newBackend(t).URL)
	defer ag.stop(t)
	wantWithin(t, 5*time.Second, "the share over plain HTTP", wantStatus(ag.host, http.StatusOK))

	// Both at once: one obtains the certificate under the shared lock, the
	// other waits for it and loads it from the database.
	errs := make(chan error, 2)
	for _, f := range []*tlsFrontend{a, b} {
		go func() {
			var err error
			deadline := time.Now().Add(30 * time.Second)
			for {
				var resp *http.Response
				if resp, err = f.get(ag.host); err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("HTTPS through a frontend: %v", err)
		}
	}
	if n := pebble.Orders(); n != 1 {
		t.Fatalf("the two frontends placed %d orders, want 1", n)
	}
}
