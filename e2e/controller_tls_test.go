package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/syncpb"
	"github.com/porticoproxy/portico/internal/testenv"
)

// TestControllerServesTLS: with tls configured, the API and the sync service
// answer only over TLS.
func TestControllerServesTLS(t *testing.T) {
	certFile, keyFile, roots := testenv.SelfSignedCert(t)
	c := ownController(t, controller.Config{
		Store: "sqlite:" + filepath.Join(t.TempDir(), "tls.db"),
		TLS:   controller.TLSConfig{CertFile: certFile, KeyFile: keyFile},
	})

	secure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := secure.Get("https://" + c.APIAddr() + "/api/v1/version")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET version over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Get("http://" + c.APIAddr() + "/api/v1/version"); err == nil && resp.StatusCode == 200 {
		t.Fatal("the API answered plaintext HTTP")
	}

	conn, err := grpc.NewClient(c.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), syncpb.SecretKey, "wrong")
	_, err = syncpb.NewSyncClient(conn).Changes(ctx, &syncpb.ChangesRequest{Frontend: "nope"})
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("a call over TLS did not reach the service: %v", err)
	}

	// The CLI trusts the certificate through SSL_CERT_FILE, and refuses it without.
	dir := t.TempDir()
	adminCLI := func(trust bool, args ...string) (string, error) {
		cmd := exec.Command(stack.portico, append([]string{"admin", "--api", "https://" + c.APIAddr(), "--admin-token", stack.adminToken}, args...)...)
		cmd.Env = os.Environ()
		if trust {
			cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+certFile)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := adminCLI(false, "ls", "namespaces"); err == nil || !strings.Contains(out, "certificate") {
		t.Fatalf("the CLI accepted an untrusted certificate: %v\n%s", err, out)
	}
	if out, err := adminCLI(true, "create", "namespace", "tls.localhost"); err != nil {
		t.Fatalf("the CLI over TLS: %v\n%s", err, out)
	}
	idFile := filepath.Join(dir, "fe.json")
	out, err := adminCLI(true, "create", "frontend", "--url-template", "http://{host}", "--identity-out", idFile)
	if err != nil {
		t.Fatalf("creating a frontend over TLS: %v\n%s", err, out)
	}
	var fe apitypes.Frontend
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "frontend: "); ok {
			fe.Token = v
		}
		if v, ok := strings.CutPrefix(l, "secret: "); ok {
			fe.Secret = v
		}
	}
	if out, err := adminCLI(true, "map", fe.Token, "tls.localhost"); err != nil {
		t.Fatalf("map: %v\n%s", err, out)
	}
	// A Caddy frontend with tls_ca loads its table over TLS.
	f := newFrontendProc(t, dir, "tls-frontend", []string{c.GRPCAddr()}, fe, idFile, testenv.FreeAddr(), "tls_ca "+certFile)
	f.start(t)
	t.Cleanup(f.Kill)
	f.waitLoaded(t)
	if st, err := f.status(); err != nil || !st.Connected {
		t.Fatalf("the frontend over TLS: %+v, %v", st, err)
	}

	// A loaded table is no proof that it serves: an agent of this controller
	// shares a service after the frontend started, and it answers through the
	// frontend, also on new overlay dials.
	t.Setenv("SSL_CERT_FILE", certFile) // for the CLI processes below
	out, err = adminCLI(true, "create", "account", uniqueName("tls")+"@e2e.localhost")
	if err != nil {
		t.Fatalf("creating an account over TLS: %v\n%s", err, out)
	}
	_, accountToken, _ := strings.Cut(out, "token: ")
	home := t.TempDir()
	mustCLI(t, home, "enable", strings.TrimSpace(accountToken), "--api", "https://"+c.APIAddr())
	ag := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the share through the frontend over TLS", f.serves(ag.host))
	f.closeIdleConns(t)
	serveAll(t, []*clusterFrontend{f}, []string{ag.host}, 5)
	ag.stop(t)
}
