package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func testLeases(t *testing.T, s *Store) {
	ctx := context.Background()
	t0 := now()
	acquire := func(holder string, at time.Time) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, "reaper", holder, at, at.Add(8*time.Second))
		must(t, err)
		return ok
	}
	if !acquire("c1", t0) {
		t.Fatal("a free lease was refused")
	}
	if acquire("c2", t0.Add(time.Second)) {
		t.Fatal("c2 took c1's unexpired lease")
	}
	if !acquire("c1", t0.Add(2*time.Second)) {
		t.Fatal("c1 could not renew its lease")
	}
	// c1 stops renewing; once the lease expires c2 takes it.
	if acquire("c2", t0.Add(9*time.Second)) {
		t.Fatal("c2 took the lease before it expired")
	}
	if !acquire("c2", t0.Add(11*time.Second)) {
		t.Fatal("c2 did not get the expired lease")
	}
	if acquire("c1", t0.Add(12*time.Second)) {
		t.Fatal("c1 took back a lease c2 holds")
	}
	leases, err := s.Leases(ctx)
	must(t, err)
	if len(leases) != 1 || leases[0].Holder != "c2" {
		t.Fatalf("leases = %+v", leases)
	}
	must(t, s.ReleaseLease(ctx, "reaper", "c1")) // not c1's: nothing happens
	must(t, s.ReleaseLease(ctx, "reaper", "c2"))
	if !acquire("c1", t0.Add(13*time.Second)) {
		t.Fatal("a released lease was refused")
	}
}

func testInstancesAndControllers(t *testing.T, s *Store) {
	ctx := context.Background()
	f := newFixture(t, s, "a")
	for _, tok := range []string{"s1", "s2", "s3"} {
		_, err := s.CreateShare(ctx, f.share(tok))
		must(t, err)
	}
	t0 := now()
	must(t, s.HeartbeatInstance(ctx, Instance{ID: "i1", Frontend: f.fronts[0], AppliedRevision: 3, Mappings: 3, Version: "v", Controller: "c1", HeartbeatAt: t0}))
	must(t, s.HeartbeatInstance(ctx, Instance{ID: "i2", Frontend: f.fronts[0], AppliedRevision: 1, Mappings: 1, Version: "v", Controller: "c1", HeartbeatAt: t0}))
	must(t, s.HeartbeatInstance(ctx, Instance{ID: "dead", Frontend: f.fronts[1], AppliedRevision: 0, Version: "v", Controller: "c1", HeartbeatAt: t0.Add(-time.Minute)}))
	ins, err := s.Instances(ctx, t0.Add(-15*time.Second))
	must(t, err)
	if len(ins) != 2 || ins[0].ID != "i1" || ins[0].Lag != 0 || ins[1].ID != "i2" || ins[1].Lag != 2 || ins[1].Revision != 3 {
		t.Fatalf("instances = %+v", ins)
	}

	must(t, s.HeartbeatController(ctx, Controller{ID: "c1", APIAddress: "a1", GRPCAddress: "g1", Version: "v", StartedAt: t0, HeartbeatAt: t0}))
	must(t, s.HeartbeatController(ctx, Controller{ID: "c2", APIAddress: "a2", GRPCAddress: "g2", Version: "v", StartedAt: t0, HeartbeatAt: t0.Add(-time.Minute)}))
	cs, err := s.Controllers(ctx, t0.Add(-10*time.Second))
	must(t, err)
	if len(cs) != 1 || cs[0].ID != "c1" || cs[0].APIAddress != "a1" {
		t.Fatalf("controllers = %+v", cs)
	}
	must(t, s.ForgetStale(ctx, t0.Add(-30*time.Second)))
	if ins, _ := s.Instances(ctx, time.Time{}); len(ins) != 2 {
		t.Errorf("ForgetStale left %d instances, want 2", len(ins))
	}
	if cs, _ := s.Controllers(ctx, time.Time{}); len(cs) != 1 {
		t.Errorf("ForgetStale left %d controllers, want 1", len(cs))
	}
}

func testCompactJournal(t *testing.T, s *Store) {
	ctx := context.Background()
	f := newFixture(t, s, "a")
	for _, tok := range []string{"s1", "s2", "s3", "s4", "s5"} {
		_, err := s.CreateShare(ctx, f.share(tok))
		must(t, err)
	}
	n, err := s.CompactJournal(ctx, now().Add(time.Minute), 2)
	must(t, err)
	if n != 6 { // revisions 1-3 of each of the two frontends
		t.Fatalf("compacted %d entries, want 6", n)
	}
	fe := f.fronts[0]
	if _, _, tooOld, _ := s.Changes(ctx, fe, 1, Page{Entries: 100}); !tooOld {
		t.Error("a client behind the compacted journal was not sent to a snapshot")
	}
	changes, _, tooOld, err := s.Changes(ctx, fe, 3, Page{Entries: 100})
	must(t, err)
	if tooOld || len(changes) != 2 || changes[0].Revision != 4 {
		t.Errorf("Changes(3) after compaction = %+v, tooOld %v", changes, tooOld)
	}
	if _, got := snapshot(t, s, fe); len(got) != 5 {
		t.Errorf("compaction changed the mappings: %v", got)
	}
	// Nothing newer than the cut-off goes.
	if n, _ := s.CompactJournal(ctx, now().Add(-time.Hour), 0); n != 0 {
		t.Errorf("compacted %d recent entries", n)
	}
}

func testWorkersSeeEveryShare(t *testing.T, s *Store) {
	ctx := context.Background()
	a := newFixture(t, s, "a")
	b := newFixture(t, s, "b")
	_, err := s.CreateShare(ctx, a.share("sa"))
	must(t, err)
	_, err = s.CreateShare(ctx, b.share("sb"))
	must(t, err)
	var all []Share
	pages := 0
	must(t, s.EachShare(ctx, 1, func(page []Share) error {
		pages++
		all = append(all, page...)
		return nil
	}))
	if pages != 2 || len(all) != 2 || all[0].BindIdentityID != a.env.ZitiIdentityID || all[0].LastSeenAt.Valid || all[1].Token != "sb" {
		t.Fatalf("EachShare by pages of 1 = %d pages, %+v", pages, all)
	}
	// An error from fn ends the walk with it.
	stop := errors.New("stop")
	if err := s.EachShare(ctx, 1, func([]Share) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("EachShare returned %v, want fn's error", err)
	}
	seen := now()
	// More tokens than one statement takes, with the real one last.
	tokens := make([]string, 0, 1200)
	for i := range 1199 {
		tokens = append(tokens, fmt.Sprint("gone", i))
	}
	must(t, s.MarkSharesSeen(ctx, append(tokens, "sa"), seen))
	must(t, s.SetShareService(ctx, "sb", "svc-new"))
	sh, err := s.Share(ctx, a.account.ID, "sa")
	must(t, err)
	if !sh.LastSeenAt.Valid || !sh.LastSeenAt.Time.Equal(seen) {
		t.Errorf("last seen = %+v, want %v", sh.LastSeenAt, seen)
	}
	if sh, _ := s.Share(ctx, b.account.ID, "sb"); sh.LastSeenAt.Valid || sh.ZitiServiceID != "svc-new" {
		t.Errorf("sb = seen %+v, service %q; want unseen with svc-new", sh.LastSeenAt, sh.ZitiServiceID)
	}
	_, changes, err := s.RemoveShare(ctx, "sb")
	must(t, err)
	if len(changes) != 2 {
		t.Errorf("RemoveShare unmapped %d hosts, want 2", len(changes))
	}
}

func testDeploymentID(t *testing.T, s *Store) {
	ctx := context.Background()
	first, err := s.DeploymentID(ctx, "one")
	must(t, err)
	second, err := s.DeploymentID(ctx, "two")
	must(t, err)
	if first != "one" || second != "one" {
		t.Fatalf("deployment ids %q, %q; want the first one kept", first, second)
	}
}
