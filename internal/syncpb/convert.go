package syncpb

import (
	"fmt"

	"github.com/porticoproxy/portico/internal/mapping"
)

// MaxMessageBytes is the largest message either end of the sync service
// accepts; the controller and the frontends both configure it.
const MaxMessageBytes = 16 << 20

// PageBytes bounds the mappings or changes one Snapshot chunk or Changes
// answer carries, far below MaxMessageBytes: a page holds at least one entry
// and may overrun by one, and an entry is at most a host name, a token and
// policy.MaxEncodedBytes.
const PageBytes = 1 << 20

// FromMappings converts mappings to their wire form.
func FromMappings(ms []mapping.Mapping) []*Mapping {
	out := make([]*Mapping, len(ms))
	for i, m := range ms {
		out[i] = &Mapping{Name: m.Name, Share: m.Share, Policy: m.Policy}
	}
	return out
}

// ToMappings converts mappings from their wire form.
func ToMappings(ms []*Mapping) []mapping.Mapping {
	out := make([]mapping.Mapping, len(ms))
	for i, m := range ms {
		out[i] = mapping.Mapping{Name: m.GetName(), Share: m.GetShare(), Policy: m.GetPolicy()}
	}
	return out
}

// FromChange converts a change to its wire form.
func FromChange(c mapping.Change) *Change {
	op := Change_OP_UPSERT
	if c.Op == mapping.Delete {
		op = Change_OP_DELETE
	}
	return &Change{Revision: c.Revision, Op: op, Mapping: &Mapping{Name: c.Name, Share: c.Share, Policy: c.Policy}}
}

// ToChange converts a change from its wire form, rejecting a malformed one.
func ToChange(c *Change) (mapping.Change, error) {
	out := mapping.Change{Revision: c.GetRevision()}
	switch c.GetOp() {
	case Change_OP_UPSERT:
		out.Op = mapping.Upsert
	case Change_OP_DELETE:
		out.Op = mapping.Delete
	default:
		return out, fmt.Errorf("change %d has unknown op %v", c.GetRevision(), c.GetOp())
	}
	m := c.GetMapping()
	out.Name, out.Share, out.Policy = m.GetName(), m.GetShare(), m.GetPolicy()
	return out, out.Validate()
}
