package syncclient

// pull.go holds the pulls from the controllers: a page of the journal at a
// time, a snapshot when the journal cannot serve, and the periodic resync.

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/syncpb"
)

// Pull brings the table up to the controller's revision from the journal,
// falling back to a snapshot when the journal is too short or a page of it
// cannot be had: a frontend must never be stuck on one journal entry.
func (c *Client) Pull(ctx context.Context) error {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	if !c.table.Loaded() {
		return c.snapshotLocked(ctx)
	}
	for {
		after := c.table.Revision()
		resp, err := c.rpc.Changes(c.auth(ctx), &syncpb.ChangesRequest{Frontend: c.cfg.Frontend, After: after})
		if err != nil && !unreachable(err) {
			c.logger.Warn("pulling the journal failed; taking a snapshot instead", zap.Int64("after", after), zap.Error(err))
			return c.snapshotLocked(ctx)
		}
		if err != nil {
			return fmt.Errorf("pulling changes after %d: %w", after, err)
		}
		if resp.TooOld {
			return c.snapshotLocked(ctx)
		}
		page := update{from: fromChanges, changes: make([]mapping.Change, 0, len(resp.Changes))}
		for _, pc := range resp.Changes {
			ch, err := syncpb.ToChange(pc)
			if err != nil {
				c.logger.Warn("malformed journal entry; taking a snapshot", zap.Error(err))
				return c.snapshotLocked(ctx)
			}
			page.changes = append(page.changes, ch)
		}
		if c.apply(page) != routes.Applied { // a gap: the journal has a hole
			return c.snapshotLocked(ctx)
		}
		if len(resp.Changes) == 0 || c.table.Revision() >= resp.Revision {
			return nil
		}
	}
}

// unreachable reports whether err means no controller could answer, in
// which case a snapshot cannot be had either.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return true
	}
	return false
}

func (c *Client) snapshot(ctx context.Context) error {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	return c.snapshotLocked(ctx)
}

func (c *Client) snapshotLocked(ctx context.Context) error {
	stream, err := c.rpc.Snapshot(c.auth(ctx), &syncpb.SnapshotRequest{Frontend: c.cfg.Frontend})
	if err != nil {
		return fmt.Errorf("requesting snapshot: %w", err)
	}
	var (
		rev int64
		ms  []mapping.Mapping
	)
	for {
		chunk, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receiving snapshot: %w", err)
		}
		rev = chunk.Revision
		ms = append(ms, syncpb.ToMappings(chunk.Mappings)...)
		if chunk.Last {
			break
		}
	}
	c.apply(update{from: fromSnapshot, revision: rev, mappings: ms})
	return nil
}

// resyncLoop pulls the journal periodically, so a change the stream lost,
// a delete included, is repaired within one interval.
func (c *Client) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Pull(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("periodic resync failed", zap.Error(err))
			}
		}
	}
}
