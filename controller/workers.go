package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/cluster"
	"github.com/porticoproxy/portico/controller/service"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

// WorkersConfig tunes the singleton workers.
type WorkersConfig struct {
	// ReapAfter is how long an ephemeral share may go without an agent
	// serving it before it is removed. Default 60s.
	ReapAfter time.Duration `yaml:"reap_after"`
	// ReapEvery is how often the reaper looks. Default 10s.
	ReapEvery time.Duration `yaml:"reap_every"`
	// ReconcileEvery is how often the overlay is compared with the store. Default 1m.
	ReconcileEvery time.Duration `yaml:"reconcile_every"`
	// JournalRetention is how long journal entries are kept (at least the
	// newest JournalKeep per frontend stay). Default 24h.
	JournalRetention time.Duration `yaml:"journal_retention"`
	// JournalKeep is how many entries per frontend compaction always keeps. Default 10000.
	JournalKeep int64 `yaml:"journal_keep"`
}

func (w *WorkersConfig) setDefaults() {
	if w.ReapAfter <= 0 {
		w.ReapAfter = time.Minute
	}
	if w.ReapEvery <= 0 {
		w.ReapEvery = 10 * time.Second
	}
	if w.ReconcileEvery <= 0 {
		w.ReconcileEvery = time.Minute
	}
	if w.JournalRetention <= 0 {
		w.JournalRetention = 24 * time.Hour
	}
	if w.JournalKeep <= 0 {
		w.JournalKeep = 10000
	}
}

// workers are the controller's singleton jobs.
type workers struct {
	cfg    WorkersConfig
	store  *store.Store
	ziti   *zitiauto.Client
	svc    *service.Service
	logger *zap.Logger

	// orphans are share tokens found on the overlay but not in the store at
	// the previous reconciliation, with when they were first seen; a token is
	// removed only on a later round, so a share being created right now (its
	// overlay objects come before its row) is never taken for an orphan.
	orphans map[string]time.Time
	// unhosted are the shares this reaper found without an agent, with when
	// it first did. A share is reaped only after the reaper itself has seen it
	// unserved for ReapAfter, so a controller that has just taken the lease
	// (or just come back) never reaps on stale records alone.
	unhosted map[string]time.Time
	lastReap time.Time
}

func (w *workers) list() []cluster.Worker {
	return []cluster.Worker{
		{Name: "reaper", Every: w.cfg.ReapEvery, Run: w.reap},
		{Name: "reconciler", Every: w.cfg.ReconcileEvery, Run: w.reconcile},
		{Name: "compactor", Every: 5 * time.Minute, Run: w.compact},
	}
}

// workerPage is how many shares the workers read from the store at a time.
const workerPage = 500

// reap removes ephemeral shares whose agent has not served them for
// ReapAfter: an agent that crashed never deleted its share.
func (w *workers) reap(ctx context.Context) error {
	hosted, err := w.ziti.HostedServices(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if now.Sub(w.lastReap) > 3*w.cfg.ReapEvery { // the lease was elsewhere meanwhile
		clear(w.unhosted)
	}
	w.lastReap = now
	var seen []string
	present := map[string]bool{}
	err = w.store.EachShare(ctx, workerPage, func(shares []store.Share) error {
		for _, sh := range shares {
			present[sh.Token] = true
			if sh.Reserved { // a reserved name waits for its agents however long they are gone
				if err := w.reapAgents(ctx, sh, hosted[sh.ZitiServiceID], now, present); err != nil {
					return err
				}
				continue
			}
			if len(hosted[sh.ZitiServiceID]) > 0 {
				seen = append(seen, sh.Token)
				delete(w.unhosted, sh.Token)
				continue
			}
			first, known := w.unhosted[sh.Token]
			if !known {
				w.unhosted[sh.Token] = now
				continue
			}
			last := sh.CreatedAt
			if sh.LastSeenAt.Valid {
				last = sh.LastSeenAt.Time
			}
			if now.Sub(last) < w.cfg.ReapAfter || now.Sub(first) < w.cfg.ReapAfter {
				continue
			}
			if err := w.svc.ReapShare(ctx, sh.Token); err != nil {
				return err
			}
			delete(w.unhosted, sh.Token)
			w.logger.Info("reaped a share whose agent is gone", zap.String("share", sh.Token), zap.Time("last_seen", last))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for tok := range w.unhosted {
		if !present[tok] {
			delete(w.unhosted, tok)
		}
	}
	return w.store.MarkSharesSeen(ctx, seen, now)
}

// reapAgents takes out of a reserved share's rotation the agents that have
// been gone for ReapAfter: an agent that crashed never left it.
func (w *workers) reapAgents(ctx context.Context, sh store.Share, bound map[string]bool, now time.Time, present map[string]bool) error {
	agents, err := w.store.Agents(ctx, sh.Token)
	if err != nil {
		return err
	}
	for _, id := range agents {
		key := sh.Token + "/" + id
		present[key] = true
		if bound[id] {
			delete(w.unhosted, key)
			continue
		}
		first, known := w.unhosted[key]
		if !known {
			w.unhosted[key] = now
			continue
		}
		if now.Sub(first) < w.cfg.ReapAfter {
			continue
		}
		if err := w.svc.ReapAgent(ctx, sh.Token, id); err != nil {
			return err
		}
		delete(w.unhosted, key)
		w.logger.Info("took a gone agent out of its share's rotation", zap.String("share", sh.Token), zap.String("agent", id))
	}
	return nil
}

// reconcile makes the overlay match the store: a share whose service is
// missing gets it back, and objects tagged with a share the store does not
// know are removed.
func (w *workers) reconcile(ctx context.Context) error {
	// Frontends first: a public share's repaired Dial policy names their roles.
	if err := w.repairFrontendRoles(ctx); err != nil {
		return err
	}
	listed := time.Now().UTC()
	onOverlay, err := w.ziti.ShareTokens(ctx)
	if err != nil {
		return err
	}
	dialRoles, err := w.ziti.DialRolesByShare(ctx)
	if err != nil {
		return err
	}
	// The store is read after the overlay, a page at a time, so what
	// differs is drift, not a change the overlay has yet to see; a share
	// made after the overlay was read waits for the next pass.
	inStore := map[string]bool{}
	err = w.store.EachShare(ctx, workerPage, func(shares []store.Share) error {
		for _, sh := range shares {
			inStore[sh.Token] = true
			if onOverlay[sh.Token] {
				if err := w.repairDialRoles(ctx, sh, dialRoles[sh.Token]); err != nil {
					return err
				}
				continue
			}
			if sh.CreatedAt.After(listed) { // made while the pass read the pages before it
				continue
			}
			if err := w.svc.RestoreShareService(ctx, sh); err != nil {
				return err
			}
			w.logger.Info("recreated a share's missing overlay objects", zap.String("share", sh.Token))
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := time.Now()
	for tok, first := range w.orphans {
		if !onOverlay[tok] || inStore[tok] {
			delete(w.orphans, tok)
			continue
		}
		if now.Sub(first) < w.cfg.ReconcileEvery/2 {
			continue
		}
		if err := w.ziti.DeleteShareService(ctx, tok); err != nil {
			return fmt.Errorf("removing orphaned share %s from the overlay: %w", tok, err)
		}
		delete(w.orphans, tok)
		w.logger.Info("removed an orphaned share from the overlay", zap.String("share", tok))
	}
	for tok := range onOverlay {
		if _, known := w.orphans[tok]; !inStore[tok] && !known {
			w.orphans[tok] = now
		}
	}
	return nil
}

// repairDialRoles makes a private share's Dial policy name its accessors
// again, if an accessor's change failed to reach the overlay.
func (w *workers) repairDialRoles(ctx context.Context, sh store.Share, onOverlay []string) error {
	want, err := w.svc.DialRoles(ctx, sh)
	if err != nil || slices.Equal(slices.Sorted(slices.Values(onOverlay)), want) {
		return err
	}
	if sh.ShareMode == "public" { // such as one made before Dial policies named namespaces
		if err := w.ziti.SetShareDialRoles(ctx, sh.Token, want); err != nil {
			return fmt.Errorf("repairing share %s's dial roles: %w", sh.Token, err)
		}
		w.logger.Info("repaired a public share's dial roles", zap.String("share", sh.Token), zap.Strings("was", onOverlay), zap.Strings("now", want))
		return nil
	}
	if err := w.svc.SyncDialRoles(ctx, sh.Token); err != nil {
		// One share whose policy is gone must not hold up the others.
		w.logger.Warn("could not repair a private share's dial roles", zap.String("share", sh.Token), zap.Error(err))
		return nil
	}
	w.logger.Info("repaired a private share's dial roles", zap.String("share", sh.Token), zap.Strings("was", onOverlay), zap.Strings("now", want))
	return nil
}

// repairFrontendRoles gives every frontend's identity the roles of the
// namespaces it serves, and no others: a mapping whose role the overlay
// missed (it did not answer), or a frontend from before namespace roles.
func (w *workers) repairFrontendRoles(ctx context.Context) error {
	onOverlay, err := w.ziti.FrontendIdentityRoles(ctx)
	if err != nil {
		return err
	}
	// The store is read after the overlay, as for shares.
	fronts, err := w.store.Frontends(ctx)
	if err != nil {
		return err
	}
	for _, f := range fronts {
		have, ok := onOverlay[f.ZitiIdentityID]
		if !ok {
			continue // deleted on the overlay; not the reconciler's to recreate
		}
		want := zitiauto.FrontendRoles(f.NamespaceIDs)
		if slices.Equal(slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(want))) {
			continue
		}
		if err := w.ziti.SetIdentityRoles(ctx, f.ZitiIdentityID, want); err != nil {
			return fmt.Errorf("repairing frontend %s's roles: %w", f.ID, err)
		}
		w.logger.Info("repaired a frontend's roles", zap.String("frontend", f.ID), zap.Strings("was", have), zap.Strings("now", want))
	}
	return nil
}

// compact trims the journal and forgets controllers and frontend instances
// that stopped heartbeating long ago.
func (w *workers) compact(ctx context.Context) error {
	n, err := w.store.CompactJournal(ctx, time.Now().UTC().Add(-w.cfg.JournalRetention), w.cfg.JournalKeep)
	if err != nil {
		return err
	}
	if n > 0 {
		w.logger.Info("compacted the journal", zap.Int64("entries", n))
	}
	return w.store.ForgetStale(ctx, time.Now().UTC().Add(-time.Hour))
}
