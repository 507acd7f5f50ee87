package ziti

import (
	"testing"
	"time"

	"github.com/openziti/edge-api/rest_model"
)

func sessionWith(routers ...*rest_model.SessionEdgeRouter) *rest_model.SessionDetail {
	return &rest_model.SessionDetail{EdgeRouters: routers}
}

func router(name string, urls map[string]string) *rest_model.SessionEdgeRouter {
	er := &rest_model.SessionEdgeRouter{}
	er.Name = &name
	er.SupportedProtocols = urls
	return er
}

func TestOfflineRouterIsDialledAtItsLastUrls(t *testing.T) {
	var o offlineRouters
	r1 := map[string]string{"tls": "tls:r1:3022"}
	r2 := router("r2", map[string]string{"tls": "tls:r2:3022"})
	o.refreshed(sessionWith(router("r1", r1), r2))

	if got := o.urls(router("r1", r1), time.Now()); got["tls"] != "tls:r1:3022" {
		t.Fatalf("online router: %v", got)
	}

	// r1 goes offline: a refresh lists it without urls, and it is dialled
	// where it was.
	offline := router("r1", map[string]string{})
	o.refreshed(sessionWith(offline, r2))
	now := time.Now()
	if got := o.urls(offline, now); got["tls"] != "tls:r1:3022" {
		t.Fatalf("offline router: got %v, want its last urls", got)
	}

	// A router the session no longer lists is forgotten.
	o.refreshed(sessionWith(r2))
	if got := o.urls(offline, now); got != nil {
		t.Fatalf("a router no longer in the session is still dialled: %v", got)
	}
}

func TestFailedDialsToARouterBackOff(t *testing.T) {
	var o offlineRouters
	online := router("r1", map[string]string{"tls": "tls:r1:3022"})
	o.refreshed(sessionWith(online))

	// Waits of 1 s, 2 s, 4 s, 8 s, then offlineRetryMax, after each failed dial.
	at := time.Now()
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		o.failed("r1", at)
		if got := o.urls(online, at.Add(wait-time.Millisecond)); got != nil {
			t.Fatalf("dialled again before %s: %v", wait, got)
		}
		at = at.Add(wait)
		if got := o.urls(online, at); got == nil {
			t.Fatalf("not dialled again after %s", wait)
		}
	}
	for range 20 {
		o.failed("r1", at)
		at = at.Add(offlineRetryMax)
		if got := o.urls(online, at); got == nil {
			t.Fatal("the wait grew past offlineRetryMax")
		}
	}

	// A dial that succeeds resets it: after a new loss it is dialled at once.
	o.connected("r1")
	if got := o.urls(online, at); got == nil {
		t.Fatal("a router dialled successfully is not dialled at once after a new loss")
	}
	o.failed("r1", at)
	if got := o.urls(online, at.Add(offlineRetryMin)); got == nil {
		t.Fatal("the wait after a success and one failure is not offlineRetryMin")
	}
}

func TestRouterNeverSeenOnlineIsNotDialled(t *testing.T) {
	var o offlineRouters
	offline := router("r1", nil)
	o.refreshed(sessionWith(offline))
	if got := o.urls(offline, time.Now()); got != nil {
		t.Fatalf("a router with no known urls: %v", got)
	}
}
