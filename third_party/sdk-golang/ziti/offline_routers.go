package ziti

import (
	"time"

	"github.com/openziti/edge-api/rest_model"
)

// Portico patch (upstream-ready).
//
// listenerManager: dial again a router that was offline at the last session refresh, and back off
// between failed dials to a router.
//
// A bound service's session lists every edge router the identity may use, but a router that is
// offline when the session is refreshed is listed without urls (the controller has no protocols
// for it). makeMoreListeners only dials the urls the session lists, so such a router is never
// dialled again until the next refresh. When the listener still holds two or more terminators,
// sessionRefreshed backs the refresh off to 30 minutes: a hosting application that lost a router
// (a router restart, the loss of an HA controller member and the router beside it) stays one
// terminator short for up to half an hour after the router is back. And while a router the
// session lists with urls is down, makeMoreListeners dials it again every second (a failed
// connect clears its in-progress mark), logging an error each time.
//
// The fix: the listener manager remembers the urls each router of its session last had, and dials a
// router listed without urls at those. A router whose dial failed is dialled again after a wait
// that doubles from offlineRetryMin to offlineRetryMax, and at once after a dial to it succeeds.
// It costs no controller calls; a router that never returns costs one failed dial per
// offlineRetryMax, and a router removed from the service's policies is forgotten at the next
// refresh, which no longer lists it.
//
// The wait is capped low, at offlineRetryMax, because it bounds how long a router that returns goes
// without its terminator; a dial to a dead address is cheap.
const (
	offlineRetryMin = time.Second
	offlineRetryMax = 10 * time.Second
)

// offlineRouters is the listener manager's memory of its session's routers. It is only used from
// the manager's run loop, so it needs no lock.
type offlineRouters struct {
	known map[string]map[string]string // router name -> the urls (by protocol) it was last listed with
	retry map[string]offlineRetry      // router name -> when to dial it again after a failed dial
}

type offlineRetry struct {
	at   time.Time
	wait time.Duration
}

// refreshed records the urls of the routers a new session lists with urls, and forgets the routers
// it no longer lists.
func (o *offlineRouters) refreshed(session *rest_model.SessionDetail) {
	if o.known == nil {
		o.known = map[string]map[string]string{}
	}
	listed := map[string]bool{}
	for _, er := range session.EdgeRouters {
		if er == nil || er.Name == nil {
			continue
		}
		listed[*er.Name] = true
		if len(er.SupportedProtocols) > 0 {
			o.known[*er.Name] = er.SupportedProtocols
		}
	}
	for name := range o.known {
		if !listed[name] {
			delete(o.known, name)
			delete(o.retry, name)
		}
	}
}

// failed notes a failed dial to the router: the next waits twice as long as the one before.
func (o *offlineRouters) failed(name string, now time.Time) {
	if o.retry == nil {
		o.retry = map[string]offlineRetry{}
	}
	r := o.retry[name]
	r.wait = min(max(2*r.wait, offlineRetryMin), offlineRetryMax)
	r.at = now.Add(r.wait)
	o.retry[name] = r
}

// connected notes a dial to the router that succeeded: after a later loss it is dialled at once.
func (o *offlineRouters) connected(name string) {
	delete(o.retry, name)
}

// urls returns the urls to dial a session's router at, or none while a retry after a failed dial
// is not due: the ones the session lists or, for a router listed without urls, the ones it last
// had.
func (o *offlineRouters) urls(er *rest_model.SessionEdgeRouter, now time.Time) map[string]string {
	if er.Name == nil {
		return er.SupportedProtocols
	}
	if r, ok := o.retry[*er.Name]; ok && now.Before(r.at) {
		return nil
	}
	if len(er.SupportedProtocols) > 0 {
		return er.SupportedProtocols
	}
	return o.known[*er.Name]
}
