// Package routes is a frontend's Host→share table: each mapping compiled to
// the route a request resolves to, and the rule by which numbered changes
// from the controller are applied. It is for frontends alone; the wire
// types are package mapping.
package routes

import (
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
)

// Route is what a request for a mapped host resolves to. Routes are built
// once per change so that the request path allocates nothing.
type Route struct {
	mapping.Mapping
	// Access is the share's compiled access policy; nil when it has none.
	Access *policy.Compiled
	// AccessErr, if set, says why the share's policy did not compile. Such a
	// share fails closed: it refuses every request.
	AccessErr error
	// Upstreams is what the dynamic upstream module returns for this share:
	// one per agent of the mapping, else one for the whole service.
	Upstreams []*reverseproxy.Upstream
	// upstream is the one for the whole service, held here rather than in
	// an allocation of its own: most shares have no agents.
	upstream reverseproxy.Upstream
}

// UpstreamPort is the nominal port in an upstream's dial address. The Ziti
// transport dials the service named by the host part and ignores it.
const UpstreamPort = "80"

func newRoute(m mapping.Mapping) *Route {
	r := &Route{Mapping: mapping.Upgrade(m)}
	m = r.Mapping
	r.Access, r.AccessErr = policy.Compile(m.Policy)
	if len(m.Agents) > 0 {
		for _, a := range m.Agents {
			r.Upstreams = append(r.Upstreams, &reverseproxy.Upstream{Dial: AgentDial(a, m.Share)})
		}
	} else {
		r.upstream.Dial = m.Share + ":" + UpstreamPort
		r.Share = r.upstream.Dial[:len(m.Share)] // one copy of the token, not two
		r.Upstreams = []*reverseproxy.Upstream{&r.upstream}
	}
	return r
}

// AgentDial is the upstream address of one agent of a share; the transport
// dials the share's service with the agent as the terminator identity.
func AgentDial(agent, share string) string {
	return agent + "@" + share + ":" + UpstreamPort
}

// SplitDialHost splits the host part of an upstream's dial address into the
// agent (empty for the whole service) and the share's service.
func SplitDialHost(host string) (agent, service string) {
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		return host[:i], host[i+1:]
	}
	return "", host
}

// Result says what Apply did with a change.
type Result uint8

const (
	// Applied means the change was the next revision and is now in the table.
	Applied Result = iota + 1
	// Duplicate means the table already holds this revision; nothing changed.
	Duplicate
	// Gap means revisions are missing before this one; the caller must pull
	// the missing changes (or a snapshot) before applying more.
	Gap
	// NotLoaded means the table has no snapshot yet to apply changes to.
	NotLoaded
)

// Table is a frontend's mapping table. Lookups may run concurrently with
// updates; each change and each snapshot becomes visible as a whole.
type Table struct {
	mu       sync.RWMutex
	routes   map[string]*Route
	revision int64
	loaded   bool
}

// NewTable returns an empty table that has not been loaded yet.
func NewTable() *Table {
	return &Table{routes: map[string]*Route{}}
}

// Lookup returns the route for a normalised host name. loaded is false until
// the table has been filled once, so a caller can tell "unknown" from "not yet".
func (t *Table) Lookup(host string) (route *Route, loaded bool) {
	t.mu.RLock()
	route, loaded = t.routes[host], t.loaded
	t.mu.RUnlock()
	return route, loaded
}

// Revision returns the revision the table reflects.
func (t *Table) Revision() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.revision
}

// Loaded reports whether the table has been filled from a snapshot or cache.
func (t *Table) Loaded() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.loaded
}

// Len returns the number of mappings.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.routes)
}

// Replace swaps the whole table for a snapshot taken at revision.
func (t *Table) Replace(revision int64, mappings []mapping.Mapping) {
	routes := make(map[string]*Route, len(mappings))
	for _, m := range mappings {
		routes[m.Name] = newRoute(m)
	}
	t.mu.Lock()
	t.routes, t.revision, t.loaded = routes, revision, true
	t.mu.Unlock()
}

// Apply applies one change by the revision rule: the next revision is
// applied, an old one is dropped as a duplicate, and a later one is refused
// as a gap so that the caller fetches what is missing first.
func (t *Table) Apply(c mapping.Change) Result {
	var r *Route
	if c.Op == mapping.Upsert {
		r = newRoute(c.Mapping) // built outside the lock
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case !t.loaded:
		return NotLoaded
	case c.Revision <= t.revision:
		return Duplicate
	case c.Revision != t.revision+1:
		return Gap
	}
	if c.Op == mapping.Delete {
		delete(t.routes, c.Name)
	} else {
		t.routes[c.Name] = r
	}
	t.revision = c.Revision
	return Applied
}

// Mappings returns a copy of every mapping and the revision they reflect.
func (t *Table) Mappings() (int64, []mapping.Mapping) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]mapping.Mapping, 0, len(t.routes))
	for _, r := range t.routes {
		out = append(out, r.Mapping)
	}
	return t.revision, out
}
