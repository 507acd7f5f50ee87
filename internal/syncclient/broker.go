package syncclient

// broker.go holds the client's side of RabbitMQ: messages taken as wake-ups
// for a pull, never applied, and the first pull that stands in for a Watch.

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/mapping"
)

// bootstrap brings the table up to date once, retrying until a controller
// answers; with a broker, that and the periodic resync are all the client
// asks of the controllers.
func (c *Client) bootstrap(ctx context.Context) {
	var bo backoff.Backoff
	for {
		err := c.Pull(ctx)
		if err == nil || ctx.Err() != nil {
			c.setState(err == nil, err)
			return
		}
		c.setState(false, err)
		wait := bo.Next()
		c.logger.Warn("no controller answers yet; retrying", zap.Error(err), zap.Duration("in", wait))
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

// brokerHandler takes the broker's deliveries as wake-ups only. Anyone who
// may publish to the exchange can send a well-formed change with the next
// revision, and its routing key, the frontend token, is no secret; so no
// content from the broker is applied. A message newer than the table makes
// the client pull the journal over the authenticated sync service, where
// the genuine change is.
type brokerHandler struct{ c *Client }

func (h brokerHandler) Apply(ch mapping.Change) {
	if ch.Revision > h.c.table.Revision() {
		h.c.wake()
	}
}

// Malformed pulls the journal: the dropped message may have stood for a change.
func (h brokerHandler) Malformed(err error) {
	h.c.logger.Warn("dropped a malformed broker message; resyncing", zap.Error(err))
	h.c.wake()
}

// Reconnected pulls the journal: what was published while the queue did
// not exist is gone.
func (h brokerHandler) Reconnected() { h.c.wake() }

// wake asks pullLoop for a pull; wake-ups that come while one is pending
// make one pull.
func (c *Client) wake() {
	select {
	case c.wakeups <- struct{}{}:
	default:
	}
}

// minPullGap bounds how often broker wake-ups make a client pull, so a flood
// of messages (forged ones included) costs each controller at most a few
// calls a second per frontend instance; a change waits that long at most.
const minPullGap = 50 * time.Millisecond

// pullLoop pulls the journal once for each batch of wake-ups.
func (c *Client) pullLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wakeups:
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.Pull(pctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("pulling the journal after a broker message failed; the periodic resync will retry", zap.Error(err))
		}
		cancel()
		if !backoff.Sleep(ctx, minPullGap) {
			return
		}
	}
}
