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
// and may overrun by one, and an entry is at most a host name, a token,
// policy.MaxBytes and mapping.MaxAgents agents.
const PageBytes = 1 << 20

// FromMappings converts mappings to their wire form.
func FromMappings(ms []mapping.Mapping) []*Mapping {
	out := make([]*Mapping, len(ms))
	for i, m := range ms {
		out[i] = fromMapping(m)
	}
	return out
}

// ToMappings converts mappings from their wire form.
func ToMappings(ms []*Mapping) []mapping.Mapping {
	out := make([]mapping.Mapping, len(ms))
	for i, m := range ms {
		out[i] = toMapping(m)
	}
	return out
}

// FromChange converts a change to its wire form.
func FromChange(c mapping.Change) *Change {
	op := Change_OP_UPSERT
	if c.Op == mapping.Delete {
		op = Change_OP_DELETE
	}
	return &Change{Revision: c.Revision, Op: op, Mapping: fromMapping(c.Mapping)}
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
	out.Mapping = toMapping(c.GetMapping())
	return out, out.Validate()
}

func fromMapping(m mapping.Mapping) *Mapping {
	return &Mapping{Name: m.Name, Share: m.Share, Policy: m.Policy, Agents: m.Agents}
}

func toMapping(m *Mapping) mapping.Mapping {
	return mapping.Mapping{Name: m.GetName(), Share: m.GetShare(), Policy: m.GetPolicy(), Agents: m.GetAgents()}
}
