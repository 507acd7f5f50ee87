package syncclient

// update.go holds the one path by which the client changes the table.

import (
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
)

// source says where an update comes from, and so what it carries.
type source uint8

const (
	// fromCache is the cache file, read before any controller answers.
	fromCache source = iota + 1
	// fromSnapshot is a whole table from the Snapshot call.
	fromSnapshot
	// fromChanges are changes in revision order: a page of the journal (pulled
	// after a gap, a broker wake-up or on the resync tick) or a change from
	// the Watch stream.
	fromChanges
)

// An update is something that moves the table on.
type update struct {
	from     source
	revision int64             // fromSnapshot
	mappings []mapping.Mapping // fromSnapshot
	changes  []mapping.Change  // fromChanges
}

// apply is the one place the client changes the table. Changes go in by the
// table's revision rule; at the first that does not fit, apply stops and
// returns why (routes.Gap or routes.NotLoaded). Otherwise it returns
// routes.Applied: the table now holds every change of u, some perhaps
// already. What u brings in is marked for the cache file, unless it came
// from that file.
func (c *Client) apply(u update) routes.Result {
	switch u.from {
	case fromCache:
		ok, err := c.table.Load(c.cfg.CacheFile)
		if err != nil {
			c.logger.Warn("ignoring the mapping cache", zap.Error(err))
		}
		if !ok {
			return routes.NotLoaded
		}
		c.logger.Info("serving cached mappings until a controller answers",
			zap.Int("mappings", c.table.Len()), zap.Int64("revision", c.table.Revision()))
		return routes.Applied
	case fromSnapshot:
		c.table.Replace(u.revision, u.mappings)
		c.markDirty()
		c.logger.Info("loaded mapping snapshot", zap.Int64("revision", u.revision), zap.Int("mappings", len(u.mappings)))
		return routes.Applied
	}
	result, applied := routes.Applied, false
	for _, ch := range u.changes {
		r := c.table.Apply(ch)
		if r == routes.Gap || r == routes.NotLoaded {
			result = r
			break
		}
		applied = applied || r == routes.Applied
	}
	if applied {
		c.markDirty()
	}
	return result
}
