package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/syncapi"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/syncclient"
)

func TestMain(m *testing.M) {
	code := m.Run()
	snapshotServers.Range(func(_, v any) bool {
		v.(*snapshotServer).close()
		return true
	})
	os.Exit(code)
}

// BenchmarkBootFromSnapshot is a frontend starting with an empty table
// against a controller whose store holds n mappings for it: connect, take
// the gRPC Snapshot, install it.
func BenchmarkBootFromSnapshot(b *testing.B) {
	for _, n := range sizes[1:] {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv, err := snapshotServerFor(n)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				table := routes.NewTable()
				c, err := syncclient.New(syncclient.Config{Controllers: []string{srv.addr}, Frontend: srv.frontend, Secret: srv.secret, Instance: "bench"}, table, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Pull(ctx); err != nil {
					b.Fatal(err)
				}
				c.Close()
				if table.Len() != n {
					b.Fatalf("snapshot of %d mappings, want %d", table.Len(), n)
				}
			}
		})
	}
}

// snapshotServer is a controller's sync service on a SQLite store filled
// with one frontend's mappings.
type snapshotServer struct {
	dir                    string
	st                     *store.Store
	grpc                   *grpc.Server
	addr, frontend, secret string
}

// snapshotServers keeps one server per size across -count repetitions:
// filling a million rows takes longer than the benchmark.
var snapshotServers sync.Map

func snapshotServerFor(n int) (*snapshotServer, error) {
	if v, ok := snapshotServers.Load(n); ok {
		return v.(*snapshotServer), nil
	}
	s := &snapshotServer{frontend: "febench000001", secret: "bench-secret-0123456789"}
	var err error
	if s.dir, err = os.MkdirTemp("", "portico-bench-snapshot-"); err != nil {
		return nil, err
	}
	if err := s.fill(n); err != nil {
		s.close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.close()
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.grpc = grpc.NewServer()
	syncapi.NewServer(s.st, syncapi.NewHub(), "bench", zap.NewNop()).Register(s.grpc)
	go s.grpc.Serve(ln)
	snapshotServers.Store(n, s)
	return s, nil
}

// fill creates the store and a frontend through controller/store, then
// writes n mappings straight into its table in one transaction: making n
// shares through the API would take hours at a million.
func (s *snapshotServer) fill(n int) error {
	ctx := context.Background()
	path := filepath.Join(s.dir, "portico.db")
	var err error
	if s.st, err = store.Open(ctx, "sqlite:"+path); err != nil {
		return err
	}
	if err := s.st.CreateFrontend(ctx, store.Frontend{ID: s.frontend, SecretHash: token.Hash(s.secret), Description: "bench",
		URLTemplate: "http://{host}", ZitiIdentityID: "none", CreatedAt: time.Now().UTC()}); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO mappings (frontend_id, name, share_token, policy) VALUES (?, ?, ?, '')`)
	if err != nil {
		return err
	}
	for _, m := range mappings(n) {
		if _, err := ins.ExecContext(ctx, s.frontend, m.Name, m.Share); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE frontends SET revision = 1 WHERE id = ?`, s.frontend); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *snapshotServer) close() {
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.st != nil {
		s.st.Close()
	}
	os.RemoveAll(s.dir)
}
