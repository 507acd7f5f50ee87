package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/porticoproxy/portico/internal/mapping"
)

func testAgentsRemapTheShare(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	sh := f.share("r1")
	sh.Name, sh.Reserved, sh.Policy = "app", true, json.RawMessage(`{"ip_deny":["10.0.0.0/8"]}`)
	_, err := s.CreateShare(ctx, sh)
	must(t, err)
	got, err := s.ShareByName(ctx, f.account.ID, f.ns.ID, "app")
	must(t, err)
	if !got.Reserved || string(got.Policy) != string(sh.Policy) {
		t.Fatalf("ShareByName = %+v", got)
	}

	// mappingOf checks that cs upsert the share on both frontends, each
	// with the share's own policy, and returns the first.
	mappingOf := func(cs []FrontendChange) mapping.Mapping {
		t.Helper()
		if len(cs) != 2 || cs[0].Op != mapping.Upsert || cs[0].Name != "app.a.example.com" {
			t.Fatalf("changes = %+v, want the name upserted on both frontends", cs)
		}
		for _, c := range cs {
			if string(c.Policy) != string(sh.Policy) || !slices.Equal(c.Agents, cs[0].Agents) {
				t.Errorf("change %+v, want the share's own policy and the same agents on both frontends", c)
			}
		}
		return cs[0].Mapping
	}
	cs, err := s.AddAgent(ctx, f.account.ID, "r1", "agent-b", "http://localhost:1")
	must(t, err)
	if m := mappingOf(cs); !slices.Equal(m.Agents, []string{"agent-b"}) {
		t.Errorf("mapping with one agent = %+v", m)
	}
	cs, err = s.AddAgent(ctx, f.account.ID, "r1", "agent-a", "http://localhost:2")
	must(t, err)
	if m := mappingOf(cs); !slices.Equal(m.Agents, []string{"agent-a", "agent-b"}) {
		t.Errorf("mapping with two agents = %+v, want both, sorted", m)
	}
	if _, err := s.AddAgent(ctx, f.account.ID, "r1", "agent-a", ""); !errors.Is(err, ErrConflict) {
		t.Errorf("an agent twice: %v, want ErrConflict", err)
	}
	if _, err := s.AddAgent(ctx, "someone-else", "r1", "agent-c", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("another account's share: %v, want ErrNotFound", err)
	}
	cs, err = s.RemoveAgent(ctx, "", "r1", "agent-b") // as a worker
	must(t, err)
	if m := mappingOf(cs); !slices.Equal(m.Agents, []string{"agent-a"}) {
		t.Errorf("mapping after removing one = %+v", m)
	}
	if _, err := s.RemoveAgent(ctx, f.account.ID, "r1", "agent-b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing a gone agent: %v, want ErrNotFound", err)
	}
	// The snapshot and the journal, as read back, hold what was written.
	must(t, s.Snapshot(ctx, f.fronts[0], Page{Entries: 10}, func(_ int64, ms []mapping.Mapping) error {
		if len(ms) != 1 || string(ms[0].Policy) != string(sh.Policy) || !slices.Equal(ms[0].Agents, []string{"agent-a"}) {
			t.Errorf("snapshot = %+v, want the last mapping", ms)
		}
		return nil
	}))
	journal, _, _, err := s.Changes(ctx, f.fronts[0], 0, Page{Entries: 100})
	must(t, err)
	if got := journal[len(journal)-1]; got.Revision != cs[0].Revision || !slices.Equal(got.Agents, []string{"agent-a"}) || string(got.Policy) != string(sh.Policy) {
		t.Errorf("last journal entry = %+v, want %+v", got, cs[0])
	}

	// A share has at most mapping.MaxAgents, so its mappings stay bounded.
	for i := 1; i < mapping.MaxAgents; i++ {
		_, err := s.AddAgent(ctx, f.account.ID, "r1", fmt.Sprintf("agent-%02d", i), "")
		must(t, err)
	}
	if _, err := s.AddAgent(ctx, f.account.ID, "r1", "one-too-many", ""); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "already has 64 agents") {
		t.Errorf("agent %d: %v, want ErrLimit", mapping.MaxAgents+1, err)
	}
}

func testDomainsMapOnlyOnceVerified(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	sh := f.share("r1")
	sh.Name, sh.Reserved = "app", true
	_, err := s.CreateShare(ctx, sh)
	must(t, err)
	other := f.share("r2")
	other.Name, other.Reserved = "other", true
	_, err = s.CreateShare(ctx, other)
	must(t, err)

	must(t, s.AddDomain(ctx, Domain{Name: "app.example.org", ShareToken: "r1", Challenge: "c1", CreatedAt: now()}))
	must(t, s.AddDomain(ctx, Domain{Name: "app.example.org", ShareToken: "r2", Challenge: "c2", CreatedAt: now()}))
	if err := s.AddDomain(ctx, Domain{Name: "app.example.org", ShareToken: "r1", Challenge: "c3", CreatedAt: now()}); !errors.Is(err, ErrConflict) {
		t.Errorf("the same claim twice: %v, want ErrConflict", err)
	}
	if _, got := snapshot(t, s, f.fronts[0]); len(got) != 2 {
		t.Fatalf("an unverified domain is mapped: %v", got)
	}
	cs, err := s.VerifyDomain(ctx, sh, "app.example.org")
	must(t, err)
	if len(cs) != 2 || cs[0].Name != "app.example.org" || cs[0].Share != "r1" {
		t.Fatalf("VerifyDomain changes = %+v", cs)
	}
	if _, err := s.VerifyDomain(ctx, other, "app.example.org"); !errors.Is(err, ErrConflict) {
		t.Errorf("a second share verifying a taken domain: %v, want ErrConflict", err)
	}
	if err := s.AddDomain(ctx, Domain{Name: "app.example.org", ShareToken: "r9", Challenge: "c", CreatedAt: now()}); !errors.Is(err, ErrConflict) {
		t.Errorf("claiming a verified domain: %v, want ErrConflict", err)
	}
	d, err := s.Domain(ctx, "r1", "app.example.org")
	must(t, err)
	if !d.Verified() {
		t.Errorf("domain not marked verified: %+v", d)
	}

	// A frontend that starts serving the namespace later gets the domain too.
	must(t, s.CreateFrontend(ctx, Frontend{ID: "late", SecretHash: "x", ZitiIdentityID: "z", CreatedAt: now()}))
	_, err = s.MapNamespace(ctx, "late", f.ns.Name)
	must(t, err)
	if _, got := snapshot(t, s, "late"); got["app.example.org"] != "r1" {
		t.Errorf("late frontend = %v, want the verified domain", got)
	}

	cs, err = s.DeleteDomain(ctx, "r1", "app.example.org")
	must(t, err)
	if len(cs) != 3 || cs[0].Op != mapping.Delete {
		t.Errorf("DeleteDomain changes = %+v, want a tombstone on each of 3 frontends", cs)
	}
	if _, err := s.DeleteDomain(ctx, "r1", "app.example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	// Releasing a share takes its claims with it.
	_, _, err = s.DeleteShare(ctx, f.account.ID, "r2")
	must(t, err)
	if ds, _ := s.Domains(ctx, "r2"); len(ds) != 0 {
		t.Errorf("released share kept domains %+v", ds)
	}
}

func testClosedNamespaceGrants(t *testing.T, s *Store) {
	f := newFixture(t, s, "a")
	ctx := context.Background()
	closed := Namespace{ID: "closed", Name: "team.example.com", Open: false, CreatedAt: now()}
	must(t, s.CreateNamespace(ctx, closed))
	open := Namespace{ID: "open", Name: "all.example.com", Open: true, CreatedAt: now()}
	must(t, s.CreateNamespace(ctx, open))
	if ok, err := s.MayUseNamespace(ctx, open, f.account.ID); err != nil || !ok {
		t.Errorf("open namespace: %v %v", ok, err)
	}
	if ok, err := s.MayUseNamespace(ctx, closed, f.account.ID); err != nil || ok {
		t.Errorf("closed namespace without a grant: %v %v", ok, err)
	}
	must(t, s.GrantNamespace(ctx, "team.example.com", f.account.Email))
	if ok, err := s.MayUseNamespace(ctx, closed, f.account.ID); err != nil || !ok {
		t.Errorf("closed namespace with a grant: %v %v", ok, err)
	}
	if err := s.GrantNamespace(ctx, "team.example.com", f.account.Email); !errors.Is(err, ErrConflict) {
		t.Errorf("granting twice: %v", err)
	}
	if err := s.GrantNamespace(ctx, "team.example.com", "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("granting an unknown account: %v", err)
	}
	got, err := s.NamespaceByName(ctx, "team.example.com")
	must(t, err)
	if got.Open {
		t.Errorf("closed namespace reads back open")
	}
}
