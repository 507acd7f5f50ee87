package syncclient

// watch.go holds the Watch stream: each change as it commits on the
// controller, applied in revision order.

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/syncpb"
)

// watchLoop follows the Watch stream until ctx ends, opening it again with
// a backoff each time it breaks.
func (c *Client) watchLoop(ctx context.Context) {
	var bo backoff.Backoff
	for ctx.Err() == nil {
		err := c.follow(ctx, &bo)
		if ctx.Err() != nil {
			return
		}
		c.setState(false, err)
		wait := bo.Next()
		c.logger.Warn("mapping stream interrupted; retrying", zap.Error(err), zap.Duration("in", wait))
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

// follow takes a snapshot if the table has none, then applies the Watch
// stream until it breaks. A stream that opens resets the backoff.
func (c *Client) follow(ctx context.Context, bo *backoff.Backoff) error {
	if !c.table.Loaded() {
		if err := c.snapshot(ctx); err != nil {
			return err
		}
	}
	stream, err := c.rpc.Watch(c.auth(ctx), &syncpb.WatchRequest{Frontend: c.cfg.Frontend, After: c.table.Revision()})
	if err != nil {
		return fmt.Errorf("opening watch: %w", err)
	}
	c.setState(true, nil)
	bo.Reset()
	for {
		pc, err := stream.Recv()
		if status.Code(err) == codes.FailedPrecondition {
			return c.snapshot(ctx) // the journal no longer reaches our revision
		}
		if err != nil {
			return fmt.Errorf("watching: %w", err)
		}
		ch, err := syncpb.ToChange(pc)
		if err != nil {
			c.logger.Warn("dropping a malformed change and resyncing", zap.Error(err))
			if err := c.Pull(ctx); err != nil {
				return err
			}
			continue
		}
		if err := c.applyWatched(ctx, ch); err != nil {
			return err
		}
	}
}

// applyWatched applies one change from the stream, pulling the journal
// first when there is a gap.
func (c *Client) applyWatched(ctx context.Context, ch mapping.Change) error {
	u := update{from: fromChanges, changes: []mapping.Change{ch}}
	switch c.apply(u) {
	case routes.Gap:
		if err := c.Pull(ctx); err != nil {
			return err
		}
		c.apply(u)
	case routes.NotLoaded:
		return c.snapshot(ctx)
	}
	c.setState(true, nil)
	return nil
}
