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
	tls := map[string]string{"tls": "tls:r1:3022"}
	o.refreshed(sessionWith(router("r1", tls), router("r2", map[string]string{"tls": "tls:r2:3022"})))

	// Online: the session's own urls.
	if got := o.urls(router("r1", tls), time.Now()); got["tls"] != "tls:r1:3022" {
		t.Fatalf("online router: %v", got)
	}

	// r1 goes offline: a refresh lists it without urls.
	offline := router("r1", map[string]string{})
	o.refreshed(sessionWith(offline, router("r2", map[string]string{"tls": "tls:r2:3022"})))
	now := time.Now()
	if got := o.urls(offline, now); got["tls"] != "tls:r1:3022" {
		t.Fatalf("offline router: got %v, want its last urls", got)
	}
	// Retries back off: 1 s, 2 s, 4 s, ... up to a minute.
	if got := o.urls(offline, now.Add(500*time.Millisecond)); got != nil {
		t.Fatalf("retried after 0.5 s: %v", got)
	}
	at := now
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := o.urls(offline, at.Add(wait-time.Millisecond)); got != nil {
			t.Fatalf("retried before %s: %v", wait, got)
		}
		at = at.Add(wait)
		if got := o.urls(offline, at); got == nil {
			t.Fatalf("not retried after %s", wait)
		}
	}
	for range 20 {
		at = at.Add(offlineRetryMax)
		if got := o.urls(offline, at); got == nil {
			t.Fatal("the retry wait grew past offlineRetryMax")
		}
	}

	// A listener on it again resets the backoff.
	o.listening("r1")
	if got := o.urls(offline, at.Add(time.Millisecond)); got == nil {
		t.Fatal("a router that was listened on again is not retried at once after a new loss")
	}

	// A router the session no longer lists is forgotten.
	o.refreshed(sessionWith(router("r2", map[string]string{"tls": "tls:r2:3022"})))
	if got := o.urls(offline, at.Add(time.Hour)); got != nil {
		t.Fatalf("a router no longer in the session is still dialled: %v", got)
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
