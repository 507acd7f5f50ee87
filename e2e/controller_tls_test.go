package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/internal/syncpb"
	"github.com/porticoproxy/portico/internal/testenv"
)

// TestControllerServesTLS: with tls configured, the API and the sync service
// answer only over TLS.
func TestControllerServesTLS(t *testing.T) {
	certFile, keyFile, roots := testenv.SelfSignedCert(t)
	c, err := controller.New(context.Background(), controller.Config{
		API: "127.0.0.1:0", GRPC: "127.0.0.1:0",
		Store:      "sqlite:" + filepath.Join(t.TempDir(), "tls.db"),
		AdminToken: stack.adminToken,
		Ziti:       controller.ZitiConfig{ManagementURL: stack.ziti.ManagementURL, Username: stack.ziti.Username, Password: stack.ziti.Password},
		TLS:        controller.TLSConfig{CertFile: certFile, KeyFile: keyFile},
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	t.Cleanup(func() { c.Close(); <-done })

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
}
