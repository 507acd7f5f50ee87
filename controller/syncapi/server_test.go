package syncapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/syncpb"
)

// serve runs the service on a real store with n public shares mapped on
// frontend "fe", and returns a client; configure changes the server.
func serve(t *testing.T, n, chunk int, configure ...func(*Server)) syncpb.SyncClient {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	for _, err := range []error{
		st.CreateAccount(ctx, store.Account{ID: "a", Email: "a@example.com", CreatedAt: now}, "h"),
		st.CreateEnvironment(ctx, store.Environment{ID: "e", AccountID: "a", CreatedAt: now}),
		st.CreateNamespace(ctx, store.Namespace{ID: "n", Name: "share.test", CreatedAt: now}),
		st.CreateFrontend(ctx, store.Frontend{ID: "fe", SecretHash: token.Hash("secret"), CreatedAt: now}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.MapNamespace(ctx, "fe", "share.test"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		tok := fmt.Sprintf("s%03d", i)
		if _, err := st.CreateShare(ctx, store.Share{Token: tok, AccountID: "a", EnvironmentID: "e", NamespaceID: "n", Namespace: "share.test",
			Name: tok, ShareMode: "public", BackendMode: "proxy", Target: "http://x", ZitiServiceID: "z", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	srv := NewServer(st, NewHub(), "test", zap.NewNop())
	srv.chunk = chunk
	for _, c := range configure {
		c(srv)
	}
	g := grpc.NewServer()
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return syncpb.NewSyncClient(conn)
}

func withSecret(secret string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), syncpb.SecretKey, secret)
}

func TestSnapshotComesInChunks(t *testing.T) {
	for _, tt := range []struct{ shares, chunk, wantChunks int }{
		{0, 2, 1}, // an empty table is one final chunk
		{4, 2, 2},
		{5, 2, 3},
	} {
		t.Run(fmt.Sprintf("%d shares by %d", tt.shares, tt.chunk), func(t *testing.T) {
			cl := serve(t, tt.shares, tt.chunk)
			stream, err := cl.Snapshot(withSecret("secret"), &syncpb.SnapshotRequest{Frontend: "fe"})
			if err != nil {
				t.Fatal(err)
			}
			var chunks, mappings int
			for {
				c, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				chunks++
				mappings += len(c.Mappings)
				if c.Revision != int64(tt.shares) {
					t.Errorf("chunk revision = %d, want %d", c.Revision, tt.shares)
				}
				if c.Last != (chunks == tt.wantChunks) {
					t.Errorf("chunk %d has last=%v", chunks, c.Last)
				}
			}
			if chunks != tt.wantChunks || mappings != tt.shares {
				t.Errorf("got %d chunks with %d mappings, want %d with %d", chunks, mappings, tt.wantChunks, tt.shares)
			}
		})
	}
}

func TestCallsNeedTheFrontendsSecret(t *testing.T) {
	cl := serve(t, 1, 10)
	for name, ctx := range map[string]context.Context{
		"no secret":    context.Background(),
		"wrong secret": withSecret("guess"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cl.Changes(ctx, &syncpb.ChangesRequest{Frontend: "fe"})
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("Changes: %v, want Unauthenticated", err)
			}
			stream, _ := cl.Watch(ctx, &syncpb.WatchRequest{Frontend: "fe"})
			if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
				t.Errorf("Watch: %v, want Unauthenticated", err)
			}
		})
	}
	if _, err := cl.Changes(withSecret("secret"), &syncpb.ChangesRequest{Frontend: "other"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("another frontend's journal with this secret: %v, want Unauthenticated", err)
	}
}

func TestWatchSendsTheJournalThenTooOld(t *testing.T) {
	cl := serve(t, 3, 10)
	ctx, cancel := context.WithTimeout(withSecret("secret"), 5*time.Second)
	defer cancel()
	stream, err := cl.Watch(ctx, &syncpb.WatchRequest{Frontend: "fe", After: 1})
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(2); want <= 3; want++ {
		c, err := stream.Recv()
		if err != nil || c.Revision != want {
			t.Fatalf("Recv = %v, %v; want revision %d", c, err, want)
		}
	}
	// A client ahead of the store (its database was replaced) must take a snapshot.
	stream, _ = cl.Watch(ctx, &syncpb.WatchRequest{Frontend: "fe", After: 99})
	if _, err := stream.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Watch after the head: %v, want FailedPrecondition", err)
	}
}

func TestHeartbeatCarriesTheOverlayWarnings(t *testing.T) {
	warn := "edge router er runs OpenZiti v1.6.0 without the fix for openziti/ziti#3072"
	cl := serve(t, 1, 10, func(s *Server) { s.Warnings = func(context.Context) []string { return []string{warn} } })
	resp, err := cl.Heartbeat(withSecret("secret"), &syncpb.HeartbeatRequest{Frontend: "fe", Instance: "i"})
	if err != nil || resp.Revision != 1 || len(resp.Warnings) != 1 || resp.Warnings[0] != warn {
		t.Fatalf("Heartbeat = %+v, %v; want revision 1 and the warning", resp, err)
	}
}
