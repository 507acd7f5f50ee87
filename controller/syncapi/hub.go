// Package syncapi serves the portico.sync.v1 gRPC service and fans committed
// mapping changes out to the frontends' Watch streams in process.
package syncapi

import (
	"sync"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/mapping"
)

// subscriberBuffer is how many changes a slow Watch stream may fall behind
// before it is cut off; its frontend then reconnects and catches up from the
// journal, so nothing is lost.
const subscriberBuffer = 4096

// Hub delivers committed changes to the Watch streams of this controller.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
}

// NewHub returns a hub with no subscribers.
func NewHub() *Hub {
	return &Hub{subs: map[string]map[*Subscription]struct{}{}}
}

// Subscription receives the changes of one frontend.
type Subscription struct {
	hub      *Hub
	frontend string
	// C delivers changes in publish order, which may differ from revision
	// order when several transactions commit at once.
	C chan mapping.Change
	// Lost is closed when the subscriber fell too far behind and was dropped.
	Lost chan struct{}
}

// Subscribe starts delivering the frontend's changes.
func (h *Hub) Subscribe(frontend string) *Subscription {
	s := &Subscription{hub: h, frontend: frontend, C: make(chan mapping.Change, subscriberBuffer), Lost: make(chan struct{})}
	h.mu.Lock()
	if h.subs[frontend] == nil {
		h.subs[frontend] = map[*Subscription]struct{}{}
	}
	h.subs[frontend][s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close stops delivery.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.remove(s)
	s.hub.mu.Unlock()
}

func (h *Hub) remove(s *Subscription) {
	if subs := h.subs[s.frontend]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.subs, s.frontend)
		}
	}
}

// Publish delivers committed changes. It never blocks: a subscriber whose
// buffer is full is dropped and told so through Lost.
func (h *Hub) Publish(changes []store.FrontendChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		for s := range h.subs[c.Frontend] {
			select {
			case s.C <- c.Change:
			default:
				h.remove(s)
				close(s.Lost)
			}
		}
	}
}
