// Package mapping holds the wire types of Portico's routes: a Mapping binds
// a host name to a share, and a numbered Change of a frontend's journal
// adds or removes one. The controller, the sync service, the broker and the
// frontends all speak them; nothing here links Caddy (the frontend's table
// is package routes).
package mapping

import (
	"fmt"
	"slices"
	"strings"
)

// Op is what a change does to a mapping.
type Op uint8

const (
	// Upsert adds a mapping or replaces the one with the same name.
	Upsert Op = iota + 1
	// Delete removes a mapping by name (a tombstone).
	Delete
)

func (o Op) String() string {
	switch o {
	case Upsert:
		return "upsert"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// ParseOp reads an op by its name, as String writes it.
func ParseOp(name string) (Op, error) {
	switch name {
	case "upsert":
		return Upsert, nil
	case "delete":
		return Delete, nil
	}
	return 0, fmt.Errorf("unknown op %.64q", name) // at most 64 bytes of what may be hostile
}

// Mapping binds a host name to a share.
type Mapping struct {
	Name  string `json:"name"`
	Share string `json:"share"`
	// Policy is the share's access policy as its owner set it (package
	// policy), as JSON; empty for none.
	Policy []byte `json:"policy,omitempty"`
	// Agents are the instances serving the share, each bound with its own
	// terminator identity, which the frontend balances across. Empty means
	// one upstream for the whole service.
	Agents []string `json:"agents,omitempty"`
}

// MaxAgents is the most agents one share may have.
const MaxAgents = 64

// MaxAgentBytes bounds an agent's name.
const MaxAgentBytes = 63

// Size is the mapping's bytes: what it costs to hold and to send, bar a few
// bytes of framing.
func (m Mapping) Size() int {
	n := len(m.Name) + len(m.Share) + len(m.Policy)
	for _, a := range m.Agents {
		n += len(a) + 1
	}
	return n
}

// Change is one numbered entry of a frontend's journal.
type Change struct {
	Revision int64 `json:"revision"`
	Op       Op    `json:"op"`
	Mapping
}

// Validate reports what makes c no well-formed change: a revision below 1,
// an unknown op, no name, an upsert without a share, or agents that are too
// many, repeated or badly named. Every codec of changes (the journal, the
// sync service, the broker) checks with it.
func (c Change) Validate() error {
	switch {
	case c.Revision <= 0:
		return fmt.Errorf("revision %d is not positive", c.Revision)
	case c.Op != Upsert && c.Op != Delete:
		return fmt.Errorf("change %d has unknown op %d", c.Revision, c.Op)
	case c.Name == "":
		return fmt.Errorf("revision %d has no name", c.Revision)
	case c.Op == Upsert && c.Share == "":
		return fmt.Errorf("upsert of %.64q without a share", c.Name)
	case len(c.Agents) > MaxAgents:
		return fmt.Errorf("upsert of %.64q has %d agents; at most %d", c.Name, len(c.Agents), MaxAgents)
	}
	for i, a := range c.Agents {
		switch {
		case a == "" || len(a) > MaxAgentBytes:
			return fmt.Errorf("upsert of %.64q: agent %d is %d bytes; 1 to %d", c.Name, i, len(a), MaxAgentBytes)
		case strings.ContainsFunc(a, notAgentRune):
			// '@' would split the upstream's dial address (package routes).
			return fmt.Errorf("upsert of %.64q: agent %.64q may hold only letters, digits, '-', '_' and '.'", c.Name, a)
		case slices.Contains(c.Agents[:i], a):
			return fmt.Errorf("upsert of %.64q: agent %q appears twice", c.Name, a)
		}
	}
	return nil
}

func notAgentRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}
