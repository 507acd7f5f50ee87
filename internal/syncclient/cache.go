package syncclient

// cache.go holds the table's cache file: read at start, written at most
// once a second after a change.

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// loadCache fills a table that nothing has loaded yet from the cache file,
// so a restart serves the known routes before any controller answers.
func (c *Client) loadCache() {
	if c.cfg.CacheFile != "" && !c.table.Loaded() {
		c.apply(update{from: fromCache})
	}
}

func (c *Client) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// saveLoop writes the table to the cache file at most once a second, and
// once more on the way out if anything changed since.
func (c *Client) saveLoop(ctx context.Context) {
	if c.cfg.CacheFile == "" {
		return
	}
	save := func() {
		if err := c.table.Save(c.cfg.CacheFile); err != nil {
			c.logger.Warn("saving the mapping cache", zap.Error(err))
		}
	}
	flush := func() {
		select {
		case <-c.dirty:
			save()
		default:
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-c.dirty:
			save()
		}
		select {
		case <-ctx.Done():
			flush()
			return
		case <-time.After(time.Second):
		}
	}
}
