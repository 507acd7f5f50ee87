package api

import (
	"net/http"
	"time"
)

const (
	// controllerTTL is how long a controller stays listed after its last
	// heartbeat (it heartbeats every 3 s).
	controllerTTL = 10 * time.Second
	// instanceTTL is how long a frontend instance stays listed after its
	// last heartbeat (it heartbeats every 5 s).
	instanceTTL = 15 * time.Second
)

// listControllers lists the live controllers, so that clients can fail over.
func (a *API) listControllers(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.Controllers(r.Context(), time.Now().UTC().Add(-controllerTTL))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(cs))
}

// listInstances lists the live frontend instances and how far behind each is.
func (a *API) listInstances(w http.ResponseWriter, r *http.Request) {
	ins, err := a.store.Instances(r.Context(), time.Now().UTC().Add(-instanceTTL))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(ins))
}

// listLeases says which controller runs each singleton worker.
func (a *API) listLeases(w http.ResponseWriter, r *http.Request) {
	ls, err := a.store.Leases(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(ls))
}
