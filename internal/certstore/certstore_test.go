package certstore

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/porticoproxy/portico/internal/testenv"
)

func open(t *testing.T, dsn string) *Storage {
	t.Helper()
	s, err := New(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestValues(t *testing.T) {
	ctx := context.Background()
	s := open(t, testenv.Postgres(t))
	if _, err := s.Load(ctx, "certificates/x/x.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	for _, k := range []string{"certificates/acme/a.example/a.example.crt", "certificates/acme/a.example/a.example.key", "certificates/acme/b.example/b.example.crt", "acme/account.json"} {
		if err := s.Store(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store(ctx, "acme/account.json", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, "acme/account.json"); err != nil || string(v) != "v2" {
		t.Fatalf("Load after overwrite = %q, %v", v, err)
	}
	if !s.Exists(ctx, "certificates/acme") || !s.Exists(ctx, "acme/account.json") || s.Exists(ctx, "certificates/ac") {
		t.Error("Exists is wrong about a directory, a value or a partial name")
	}
	all, err := s.List(ctx, "certificates", true)
	if err != nil || len(all) != 3 {
		t.Fatalf("recursive List = %v, %v", all, err)
	}
	children, err := s.List(ctx, "certificates/acme", false)
	if err != nil || !slices.Equal(children, []string{"certificates/acme/a.example", "certificates/acme/b.example"}) {
		t.Fatalf("List = %v, %v", children, err)
	}
	info, err := s.Stat(ctx, "acme/account.json")
	if err != nil || !info.IsTerminal || info.Size != 2 || time.Since(info.Modified) > time.Minute {
		t.Fatalf("Stat of a value = %+v, %v", info, err)
	}
	if info, err := s.Stat(ctx, "certificates/acme"); err != nil || info.IsTerminal {
		t.Fatalf("Stat of a directory = %+v, %v", info, err)
	}
	if err := s.Delete(ctx, "certificates/acme/a.example"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/acme/a.example/a.example.key") || !s.Exists(ctx, "certificates/acme/b.example/b.example.crt") {
		t.Error("Delete of a directory removed too little or too much")
	}
	if err := s.Delete(ctx, "nothing/here"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

// TestLockIsMutualExclusionAcrossInstances: two instances on one database
// (two frontends) never hold the same lock at once.
func TestLockIsMutualExclusionAcrossInstances(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for i, s := range []*Storage{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := s.Lock(ctx, "issue_cert_a.example"); err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(time.Duration(20+i) * time.Millisecond)
				inside.Add(-1)
				if err := s.Unlock(ctx, "issue_cert_a.example"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("the lock was held twice at once %d times", overlaps.Load())
	}
	ok, err := b.TryLock(ctx, "other")
	if err != nil || !ok {
		t.Fatalf("TryLock of a free lock = %v, %v", ok, err)
	}
	if ok, _ := a.TryLock(ctx, "other"); ok {
		t.Fatal("TryLock took a held lock")
	}
	// a may not free b's lock.
	a.Unlock(ctx, "other")
	if ok, _ := a.TryLock(ctx, "other"); ok {
		t.Fatal("another instance's Unlock freed the lock")
	}
	b.Unlock(ctx, "other")
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := a.Lock(waitCtx, "other"); err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
}

func TestLockHonoursContext(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn), open(t, dsn)
	if err := a.Lock(context.Background(), "held"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := b.Lock(ctx, "held"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held lock: %v, want the context's deadline", err)
	}
}

// A holder that crashed (it neither unlocks nor refreshes) loses its lock one
// TTL after its last refresh; a live holder keeps its lock past many TTLs.
func TestLockOfACrashedHolderExpires(t *testing.T) {
	const ttl = 2 * time.Second
	dsn := testenv.Postgres(t)
	live, crashed, waiter := open(t, dsn), open(t, dsn), open(t, dsn)
	for _, s := range []*Storage{live, crashed, waiter} {
		s.ttl = ttl
	}
	ctx := context.Background()
	if err := live.Lock(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := crashed.Lock(ctx, "orphaned"); err != nil {
		t.Fatal(err)
	}
	crashed.Close() // its refresher can no longer reach the database
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, 5*ttl)
	defer cancel()
	if err := waiter.Lock(waitCtx, "orphaned"); err != nil {
		t.Fatalf("the crashed holder's lock did not free itself: %v", err)
	}
	if d := time.Since(start); d < ttl/2 {
		t.Fatalf("the lock was taken %s after the holder crashed, before its TTL", d)
	}
	// Past its TTL, the live holder's refreshes still keep its lock.
	if ok, err := waiter.TryLock(ctx, "kept"); err != nil || ok {
		t.Fatalf("TryLock of a live holder's lock = %v, %v", ok, err)
	}
}
