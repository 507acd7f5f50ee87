package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func testPrivateShareAccesses(t *testing.T, s *Store) {
	owner := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	ctx := context.Background()
	sh := owner.share("p1")
	sh.ShareMode, sh.BackendMode, sh.Target, sh.Closed = "private", "tcpTunnel", "localhost:22", true
	cs, err := s.CreateShare(ctx, sh)
	must(t, err)
	if len(cs) != 0 {
		t.Fatalf("a private share was mapped: %+v", cs)
	}
	got, err := s.ShareByToken(ctx, "p1")
	must(t, err)
	if !got.Closed || got.ShareMode != "private" || got.AccountID != owner.account.ID {
		t.Fatalf("ShareByToken = %+v", got)
	}
	if _, err := s.ShareByToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}

	// Closed: the owner may, another account only once granted.
	mayAccess := func(accountID string) bool {
		t.Helper()
		ok, err := s.MayAccessShare(ctx, got, accountID)
		must(t, err)
		return ok
	}
	if !mayAccess(owner.account.ID) || mayAccess(other.account.ID) {
		t.Fatal("a closed share admits someone other than its owner")
	}
	must(t, s.GrantShare(ctx, "p1", other.account.Email))
	if !mayAccess(other.account.ID) {
		t.Error("a granted account may not access the share")
	}
	if err := s.GrantShare(ctx, "p1", other.account.Email); !errors.Is(err, ErrConflict) {
		t.Errorf("granting twice: %v, want ErrConflict", err)
	}
	if err := s.GrantShare(ctx, "p1", "nobody@example.com"); err != nil {
		t.Errorf("granting an email no account has yet: %v, want it recorded", err)
	}
	if err := s.GrantShare(ctx, "nope", other.account.Email); !errors.Is(err, ErrNotFound) {
		t.Errorf("granting an unknown share: %v, want ErrNotFound", err)
	}
	open := owner.share("p2")
	open.ShareMode = "private"
	_, err = s.CreateShare(ctx, open)
	must(t, err)
	if ok, err := s.MayAccessShare(ctx, open, other.account.ID); err != nil || !ok {
		t.Errorf("an open share refuses an account: %v %v", ok, err)
	}

	// Two accesses from one environment name its identity once.
	access := func(id string, f fixture) Access {
		return Access{ID: id, ShareToken: "p1", AccountID: f.account.ID, EnvironmentID: f.env.ID, ZitiIdentityID: f.env.ZitiIdentityID, CreatedAt: now()}
	}
	for _, a := range []Access{access("x1", other), access("x2", other), access("x3", owner)} {
		must(t, s.AddAccess(ctx, a))
	}
	identities := func() string {
		t.Helper()
		ids, err := s.AccessIdentities(ctx, "p1")
		must(t, err)
		return fmt.Sprint(ids)
	}
	if got := identities(); got != "[zid-a zid-b]" {
		t.Fatalf("AccessIdentities = %s, want [zid-a zid-b]", got)
	}
	if tokens, err := s.AccessedShares(ctx, other.env.ID); err != nil || fmt.Sprint(tokens) != "[p1]" {
		t.Errorf("AccessedShares = %v %v, want [p1]", tokens, err)
	}
	bad := access("x4", other)
	bad.ShareToken = "nope"
	if err := s.AddAccess(ctx, bad); !errors.Is(err, ErrNotFound) {
		t.Errorf("access to an unknown share: %v, want ErrNotFound", err)
	}

	// Only the accessor's account removes its access.
	if err := s.RemoveAccess(ctx, owner.account.ID, "p1", "x1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing another account's access: %v, want ErrNotFound", err)
	}
	must(t, s.RemoveAccess(ctx, other.account.ID, "p1", "x1"))
	if got := identities(); got != "[zid-a zid-b]" {
		t.Errorf("after removing one of two accesses, identities = %s; want zid-b kept", got)
	}
	if err := s.RemoveAccess(ctx, other.account.ID, "p1", "x1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: %v, want ErrNotFound", err)
	}
	n, err := s.RemoveEnvironmentAccesses(ctx, other.account.ID, "p1", other.env.ID)
	if err != nil || n != 1 {
		t.Errorf("RemoveEnvironmentAccesses = %d %v, want 1", n, err)
	}
	if _, err := s.RemoveEnvironmentAccesses(ctx, other.account.ID, "p1", other.env.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing an environment's accesses twice: %v, want ErrNotFound", err)
	}
	if got := identities(); got != "[zid-a]" {
		t.Errorf("identities = %s, want [zid-a]", got)
	}

	// Deleting the share deletes its accesses and grants.
	must(t, s.AddAccess(ctx, access("x5", other)))
	_, _, err = s.DeleteShare(ctx, owner.account.ID, "p1")
	must(t, err)
	if got := identities(); got != "[]" {
		t.Errorf("a deleted share kept accessors %s", got)
	}
	if tokens, err := s.AccessedShares(ctx, other.env.ID); err != nil || len(tokens) != 0 {
		t.Errorf("AccessedShares after the delete = %v %v", tokens, err)
	}
	sh.Closed = false
	_, err = s.CreateShare(ctx, sh) // the same token again: no grant survived
	must(t, err)
	must(t, s.GrantShare(ctx, "p1", other.account.Email))
}
