package syncclient

// heartbeat.go holds the heartbeat that reports this frontend instance to
// the controllers, and logs the warnings they send back.

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/syncpb"
)

// heartbeatLoop reports this instance to the controllers, which list it with
// its lag behind the store.
func (c *Client) heartbeatLoop(ctx context.Context) {
	logged := map[string]bool{}
	for {
		req := &syncpb.HeartbeatRequest{Frontend: c.cfg.Frontend, Instance: c.cfg.Instance, Version: c.cfg.Version,
			AppliedRevision: c.table.Revision(), Mappings: int64(c.table.Len())}
		resp, err := c.rpc.Heartbeat(c.auth(ctx), req)
		if err != nil && ctx.Err() == nil {
			c.logger.Debug("heartbeat failed", zap.Error(err))
		}
		for _, w := range resp.GetWarnings() {
			// Each once; a handful at most, however many the controller sends.
			if !logged[w] && len(logged) < maxWarnings {
				logged[w] = true
				c.logger.Warn("the controller warns about the overlay", zap.String("warning", truncate(w, 1024)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.cfg.HeartbeatInterval):
		}
	}
}

// maxWarnings bounds the distinct overlay warnings an instance logs.
const maxWarnings = 16

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
