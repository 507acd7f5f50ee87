package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/testenv"
)

// kinds are the databases the controller supports; every test of the
// suite runs against each.
var kinds = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "portico.db") }},
	{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
}

func TestStore(t *testing.T) {
	suite := []struct {
		name string
		test func(*testing.T, *Store)
	}{
		{"ShareLifecycleJournalsEveryFrontend", testShareLifecycleJournalsEveryFrontend},
		{"NameTakenIsConflict", testNameTakenIsConflict},
		{"AccountsAreIsolated", testAccountsAreIsolated},
		{"SharesPageEveryShareOnce", testSharesPageEveryShareOnce},
		{"MapNamespaceMapsExistingShares", testMapNamespaceMapsExistingShares},
		{"DeleteEnvironmentUnmapsItsShares", testDeleteEnvironmentUnmapsItsShares},
		{"ConcurrentWritersGetGaplessRevisions", testConcurrentWritersGetGaplessRevisions},
		{"Leases", testLeases},
		{"InstancesAndControllers", testInstancesAndControllers},
		{"CompactJournal", testCompactJournal},
		{"WorkersSeeEveryShare", testWorkersSeeEveryShare},
		{"DeploymentID", testDeploymentID},
		{"AgentsRemapTheShare", testAgentsRemapTheShare},
		{"DomainsMapOnlyOnceVerified", testDomainsMapOnlyOnceVerified},
		{"ClosedNamespaceGrants", testClosedNamespaceGrants},
		{"PrivateShareAccesses", testPrivateShareAccesses},
		{"UnknownJournalOpIsAnError", testUnknownJournalOpIsAnError},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			for _, tt := range suite {
				t.Run(tt.name, func(t *testing.T) {
					s, err := Open(context.Background(), kind.dsn(t))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					tt.test(t, s)
				})
			}
		})
	}
}

// fixture is an account with an environment, a namespace and two frontends
// serving it.
type fixture struct {
	s       *Store
	account Account
	env     Environment
	ns      Namespace
	fronts  []string
}

func newFixture(t *testing.T, s *Store, tag string) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{s: s}
	f.account = Account{ID: "acct-" + tag, Email: tag + "@example.com", CreatedAt: now()}
	must(t, s.CreateAccount(ctx, f.account, "hash-"+tag))
	f.env = Environment{ID: "env-" + tag, AccountID: f.account.ID, Description: "laptop", ZitiIdentityID: "zid-" + tag, CreatedAt: now()}
	must(t, s.CreateEnvironment(ctx, f.env))
	f.ns = Namespace{ID: "ns-" + tag, Name: tag + ".example.com", CreatedAt: now()}
	must(t, s.CreateNamespace(ctx, f.ns))
	for i := range 2 {
		id := fmt.Sprintf("fe%d-%s", i, tag)
		must(t, s.CreateFrontend(ctx, Frontend{ID: id, SecretHash: "x", URLTemplate: "http://{host}", ZitiIdentityID: "z", CreatedAt: now()}))
		if _, err := s.MapNamespace(ctx, id, f.ns.Name); err != nil {
			t.Fatal(err)
		}
		f.fronts = append(f.fronts, id)
	}
	return f
}

func (f fixture) share(token string) Share {
	return Share{Token: token, AccountID: f.account.ID, EnvironmentID: f.env.ID, NamespaceID: f.ns.ID, Namespace: f.ns.Name,
		Name: token, ShareMode: "public", BackendMode: "proxy", Target: "http://localhost:3000", ZitiServiceID: "svc", CreatedAt: now()}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, s *Store, frontend string) (int64, map[string]string) {
	t.Helper()
	got := map[string]string{}
	var rev int64
	must(t, s.Snapshot(context.Background(), frontend, Page{Entries: 2}, func(r int64, ms []mapping.Mapping) error {
		rev = r
		for _, m := range ms {
			got[m.Name] = m.Share
		}
		return nil
	}))
	return rev, got
}

func testShareLifecycleJournalsEveryFrontend(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()

	for i, tok := range []string{"s1", "s2", "s3"} {
		cs, err := s.CreateShare(ctx, f.share(tok))
		must(t, err)
		if len(cs) != 2 || cs[0].Frontend == cs[1].Frontend || cs[0].Revision != int64(i+1) || cs[0].Op != mapping.Upsert {
			t.Fatalf("CreateShare changes = %+v, want one upsert at revision %d per frontend", cs, i+1)
		}
	}
	_, deleted, err := s.DeleteShare(ctx, f.account.ID, "s2")
	must(t, err)
	if len(deleted) != 2 || deleted[0].Op != mapping.Delete || deleted[0].Name != "s2.a.example.com" {
		t.Fatalf("DeleteShare changes = %+v", deleted)
	}

	for _, fe := range f.fronts {
		rev, got := snapshot(t, s, fe)
		want := map[string]string{"s1.a.example.com": "s1", "s3.a.example.com": "s3"}
		if rev != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s snapshot = rev %d %v, want rev 4 %v", fe, rev, got, want)
		}
		// Replaying the journal from zero gives the same table as the snapshot.
		changes, cur, tooOld, err := s.Changes(ctx, fe, 0, Page{Entries: 100})
		must(t, err)
		if tooOld || cur != 4 || len(changes) != 4 {
			t.Fatalf("Changes(0) = %d changes, cur %d, tooOld %v", len(changes), cur, tooOld)
		}
		tab := routes.NewTable()
		tab.Replace(0, nil)
		for _, c := range changes {
			if r := tab.Apply(c); r != routes.Applied {
				t.Fatalf("journal entry %d not applicable: %d", c.Revision, r)
			}
		}
		if _, ms := tab.Mappings(); len(ms) != 2 {
			t.Errorf("replayed journal has %d mappings, want 2", len(ms))
		}
		// Part of the journal, and nothing after the head.
		if changes, _, _, _ := s.Changes(ctx, fe, 3, Page{Entries: 100}); len(changes) != 1 || changes[0].Op != mapping.Delete {
			t.Errorf("Changes(3) = %+v, want the delete", changes)
		}
		if changes, _, tooOld, _ := s.Changes(ctx, fe, 4, Page{Entries: 100}); len(changes) != 0 || tooOld {
			t.Errorf("Changes(4) = %+v, %v", changes, tooOld)
		}
		if _, _, tooOld, _ := s.Changes(ctx, fe, 9, Page{Entries: 100}); !tooOld {
			t.Errorf("Changes after the head must send the client to a snapshot")
		}
	}
}

func testNameTakenIsConflict(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	_, err := s.CreateShare(ctx, f.share("s1"))
	must(t, err)
	sh := f.share("s1b")
	sh.Name = "s1"
	if _, err := s.CreateShare(ctx, sh); !errors.Is(err, ErrConflict) {
		t.Fatalf("taken name: err = %v, want ErrConflict", err)
	}
	if rev, got := snapshot(t, s, f.fronts[0]); rev != 1 || len(got) != 1 {
		t.Errorf("a refused share changed the mappings: rev %d %v", rev, got)
	}
	if err := s.CreateAccount(ctx, Account{ID: "x", Email: f.account.Email, CreatedAt: now()}, "h2"); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate email: err = %v, want ErrConflict", err)
	}
	if err := s.CreateNamespace(ctx, Namespace{ID: "y", Name: f.ns.Name, CreatedAt: now()}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate namespace: err = %v, want ErrConflict", err)
	}
}

func testAccountsAreIsolated(t *testing.T, s *Store) {
	a := newFixture(t, s, "a")
	b := newFixture(t, s, "b")
	ctx := context.Background()
	_, err := s.CreateShare(ctx, a.share("sa"))
	must(t, err)
	if _, err := s.Share(ctx, b.account.ID, "sa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b reads a's share: %v", err)
	}
	if _, _, err := s.DeleteShare(ctx, b.account.ID, "sa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b deletes a's share: %v", err)
	}
	if shares, _, _ := s.Shares(ctx, b.account.ID, nil, 100); len(shares) != 0 {
		t.Errorf("b lists %d shares, want 0", len(shares))
	}
	if _, err := s.Environment(ctx, b.account.ID, a.env.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("b reads a's environment: %v", err)
	}
	if shares, _, _ := s.Shares(ctx, a.account.ID, nil, 100); len(shares) != 1 {
		t.Errorf("a lists %d shares, want 1", len(shares))
	}
}

// Paging an account's shares returns each once, in creation order and then
// by token, while shares are made and deleted between pages.
func testSharesPageEveryShareOnce(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	ctx := context.Background()
	start := now()
	const n = 250
	for i := range n {
		sh := f.share(fmt.Sprintf("s%03d", i))
		sh.CreatedAt = start.Add(time.Duration(i/10) * time.Millisecond) // ten at a time share an instant
		_, err := s.CreateShare(ctx, sh)
		must(t, err)
	}
	_, err := s.CreateShare(ctx, other.share("theirs"))
	must(t, err)

	var got []string
	var after *ShareCursor
	for page := 0; ; page++ {
		shares, next, err := s.Shares(ctx, f.account.ID, after, 7)
		must(t, err)
		if next != nil && len(shares) != 7 {
			t.Fatalf("page %d has %d shares and a next page", page, len(shares))
		}
		for _, sh := range shares {
			got = append(got, sh.Token)
		}
		if page == 0 { // churn behind and ahead of the cursor
			late := f.share("late")
			late.CreatedAt = start.Add(time.Hour)
			_, err := s.CreateShare(ctx, late)
			must(t, err)
			_, _, err = s.DeleteShare(ctx, f.account.ID, "s200")
			must(t, err)
		}
		if next == nil {
			break
		}
		after = next
	}
	var want []string
	for i := range n {
		if i != 200 {
			want = append(want, fmt.Sprintf("s%03d", i))
		}
	}
	want = append(want, "late")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pages of 7 listed %d shares:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
}

func testMapNamespaceMapsExistingShares(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	_, err := s.CreateShare(ctx, f.share("s1"))
	must(t, err)
	must(t, s.CreateFrontend(ctx, Frontend{ID: "late", SecretHash: "x", ZitiIdentityID: "z", CreatedAt: now()}))
	cs, err := s.MapNamespace(ctx, "late", f.ns.Name)
	must(t, err)
	if len(cs) != 1 || cs[0].Revision != 1 || cs[0].Name != "s1.a.example.com" {
		t.Fatalf("MapNamespace changes = %+v", cs)
	}
	if _, err := s.MapNamespace(ctx, "late", f.ns.Name); !errors.Is(err, ErrConflict) {
		t.Errorf("mapping twice: %v, want ErrConflict", err)
	}
	if _, err := s.MapNamespace(ctx, "late", "nope.example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown namespace: %v, want ErrNotFound", err)
	}
}

func testDeleteEnvironmentUnmapsItsShares(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	for _, tok := range []string{"s1", "s2"} {
		_, err := s.CreateShare(ctx, f.share(tok))
		must(t, err)
	}
	shares, changes, err := s.DeleteEnvironment(ctx, f.account.ID, f.env.ID)
	must(t, err)
	if len(shares) != 2 || len(changes) != 4 {
		t.Fatalf("DeleteEnvironment = %d shares, %d changes", len(shares), len(changes))
	}
	if _, got := snapshot(t, s, f.fronts[1]); len(got) != 0 {
		t.Errorf("mappings left after environment delete: %v", got)
	}
}

// TestConcurrentWritersGetGaplessRevisions checks that revisions per
// frontend come out strictly increasing with no holes under concurrent writes.
func testConcurrentWritersGetGaplessRevisions(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateShare(ctx, f.share(fmt.Sprintf("c%02d", i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	changes, cur, _, err := s.Changes(ctx, f.fronts[0], 0, Page{Entries: 1000})
	must(t, err)
	if cur != 40 || len(changes) != 40 {
		t.Fatalf("head %d with %d changes, want 40", cur, len(changes))
	}
	for i, c := range changes {
		if c.Revision != int64(i+1) {
			t.Fatalf("change %d has revision %d", i, c.Revision)
		}
	}
}

// TestTwoControllersShareOneDatabase: two stores on one PostgreSQL database
// (two controllers) write at once; each frontend's revisions come out
// strictly increasing with no holes, and replaying the journal gives exactly
// the stored mappings.
func TestTwoControllersShareOneDatabase(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	var stores [2]*Store
	var opening sync.WaitGroup
	for i := range stores {
		opening.Add(1)
		go func() { // both migrate at once, as two controllers starting together do
			defer opening.Done()
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		}()
	}
	opening.Wait()
	if t.Failed() {
		t.FailNow()
	}
	f := newFixture(t, stores[0], "a")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			tok := fmt.Sprintf("c%03d", i)
			if _, err := s.CreateShare(ctx, f.share(tok)); err != nil {
				errs <- err
				return
			}
			if i%3 == 0 {
				_, _, err := s.DeleteShare(ctx, f.account.ID, tok)
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	for _, fe := range f.fronts {
		changes, cur, _, err := stores[1].Changes(ctx, fe, 0, Page{Entries: 10000})
		must(t, err)
		if want := int64(100 + 34); cur != want || len(changes) != int(want) {
			t.Fatalf("%s: head %d with %d changes, want %d", fe, cur, len(changes), want)
		}
		tab := routes.NewTable()
		tab.Replace(0, nil)
		for i, c := range changes {
			if c.Revision != int64(i+1) {
				t.Fatalf("%s: change %d has revision %d", fe, i, c.Revision)
			}
			tab.Apply(c)
		}
		_, replayed := tab.Mappings()
		_, stored := snapshot(t, stores[0], fe)
		if len(replayed) != len(stored) || len(stored) != 66 {
			t.Fatalf("%s: journal replays to %d mappings, store holds %d, want 66", fe, len(replayed), len(stored))
		}
		for _, m := range replayed {
			if stored[m.Name] != m.Share {
				t.Errorf("%s: %s replays to %s, stored %s", fe, m.Name, m.Share, stored[m.Name])
			}
		}
	}
}

// An entry whose op the journal does not know is broken: Changes fails (and
// the frontend takes a snapshot) rather than reading it as an upsert.
func testUnknownJournalOpIsAnError(t *testing.T, s *Store) {
	f := newFixture(t, s, "op")
	ctx := context.Background()
	_, err := s.CreateShare(ctx, f.share("s1"))
	must(t, err)
	_, err = s.db.ExecContext(ctx, s.q(`UPDATE journal SET op = 'rename' WHERE frontend_id = ?`), f.fronts[0])
	must(t, err)
	if _, _, _, err := s.Changes(ctx, f.fronts[0], 0, Page{Entries: 10}); err == nil || !strings.Contains(err.Error(), `unknown op "rename"`) {
		t.Errorf("Changes over an unknown op: %v, want an error", err)
	}
}
