package syncapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/syncpb"
)

// serve runs the service on a real store with n public shares mapped on
// frontend "fe", each with policy, and returns a client with gRPC's default
// limits; configure changes the server.
func serve(t *testing.T, n int, policy []byte, configure ...func(*Server)) syncpb.SyncClient {
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
			Name: tok, ShareMode: "public", BackendMode: "proxy", Target: "http://x", ZitiServiceID: "z", Policy: policy, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	srv := NewServer(st, NewHub(), "test", zap.NewNop())
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
			cl := serve(t, tt.shares, nil, func(s *Server) { s.page = store.Page{Entries: tt.chunk} })
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
	cl := serve(t, 1, nil)
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
	cl := serve(t, 3, nil)
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
	cl := serve(t, 1, nil, func(s *Server) { s.Warnings = func(context.Context) []string { return []string{warn} } })
	resp, err := cl.Heartbeat(withSecret("secret"), &syncpb.HeartbeatRequest{Frontend: "fe", Instance: "i"})
	if err != nil || resp.Revision != 1 || len(resp.Warnings) != 1 || resp.Warnings[0] != warn {
		t.Fatalf("Heartbeat = %+v, %v; want revision 1 and the warning", resp, err)
	}
}

// bigPolicy is a valid policy close to policy.MaxBytes.
func bigPolicy(t *testing.T) []byte {
	t.Helper()
	p := policy.Policy{ResponseHeaders: policy.HeaderRules{Set: map[string]string{}}}
	for i := range 7 {
		p.ResponseHeaders.Set[fmt.Sprintf("X-Filler-%d", i)] = strings.Repeat("x", policy.MaxValueBytes)
	}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A tenant's large policies once made a frontend's snapshot and journal
// messages larger than gRPC's default 4 MiB receive limit, so no frontend
// could load any route. Pages are bounded by bytes now: a client with the
// default limit reads 200 shares with 28 KiB policies each (5.8 MiB).
func TestPagesAreBoundedByBytes(t *testing.T) {
	raw := bigPolicy(t)
	const shares = 200
	if total := shares * len(raw); total < 5<<20 {
		t.Fatalf("the test needs more than gRPC's 4 MiB default; it has %d bytes", total)
	}

	t.Run("counted by entries, a snapshot is too large", func(t *testing.T) {
		cl := serve(t, shares, raw, func(s *Server) { s.page = store.Page{Entries: 5000} })
		stream, err := cl.Snapshot(withSecret("secret"), &syncpb.SnapshotRequest{Frontend: "fe"})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("snapshot paged by count: %v, want ResourceExhausted", err)
		}
	})

	cl := serve(t, shares, raw)
	maxMessage := syncpb.PageBytes + policy.MaxBytes + mapping.MaxAgents*(mapping.MaxAgentBytes+1) + 1024
	t.Run("snapshot", func(t *testing.T) {
		stream, err := cl.Snapshot(withSecret("secret"), &syncpb.SnapshotRequest{Frontend: "fe"})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			c, err := stream.Recv()
			if err != nil {
				t.Fatalf("after %d mappings: %v", got, err)
			}
			if n := proto.Size(c); n > maxMessage {
				t.Errorf("a chunk is %d bytes; want at most %d", n, maxMessage)
			}
			got += len(c.Mappings)
			if c.Last {
				break
			}
		}
		if got != shares {
			t.Errorf("snapshot held %d mappings, want %d", got, shares)
		}
	})
	t.Run("changes", func(t *testing.T) {
		var after int64
		pages := 0
		for after < shares {
			resp, err := cl.Changes(withSecret("secret"), &syncpb.ChangesRequest{Frontend: "fe", After: after})
			if err != nil {
				t.Fatalf("changes after %d: %v", after, err)
			}
			if n := proto.Size(resp); n > maxMessage {
				t.Errorf("a page is %d bytes; want at most %d", n, maxMessage)
			}
			if len(resp.Changes) == 0 {
				t.Fatalf("an empty page after %d of %d", after, resp.Revision)
			}
			after = resp.Changes[len(resp.Changes)-1].Revision
			pages++
		}
		if pages < 5 {
			t.Errorf("the journal came in %d pages; 5.8 MiB needs at least 5", pages)
		}
	})
}
