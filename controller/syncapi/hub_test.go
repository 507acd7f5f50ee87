package syncapi

import (
	"testing"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/mapping"
)

func change(fe string, rev int64) store.FrontendChange {
	return store.FrontendChange{Frontend: fe, Change: mapping.Change{Revision: rev, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "a", Share: "s"}}}
}

func TestHubDeliversOnlyToTheFrontendsSubscribers(t *testing.T) {
	h := NewHub()
	a1, a2, b := h.Subscribe("a"), h.Subscribe("a"), h.Subscribe("b")
	h.Publish([]store.FrontendChange{change("a", 1), change("b", 7)})
	for _, s := range []*Subscription{a1, a2} {
		if c := <-s.C; c.Revision != 1 {
			t.Errorf("subscriber of a got revision %d", c.Revision)
		}
	}
	if c := <-b.C; c.Revision != 7 {
		t.Errorf("subscriber of b got revision %d", c.Revision)
	}
	a1.Close()
	h.Publish([]store.FrontendChange{change("a", 2)})
	if len(a1.C) != 0 || len(a2.C) != 1 {
		t.Errorf("after Close: closed has %d, open has %d", len(a1.C), len(a2.C))
	}
}

// TestHubDropsASlowSubscriber: a full buffer never blocks the publisher; the
// subscriber is told it lost changes, so its frontend reconnects and catches up.
func TestHubDropsASlowSubscriber(t *testing.T) {
	h := NewHub()
	slow := h.Subscribe("a")
	for i := range subscriberBuffer + 10 {
		h.Publish([]store.FrontendChange{change("a", int64(i+1))})
	}
	select {
	case <-slow.Lost:
	default:
		t.Fatal("an overflowing subscriber was not told it lost changes")
	}
	slow.Close() // safe after being dropped
	if n := len(h.subs); n != 0 {
		t.Errorf("hub still holds %d frontends", n)
	}
}
