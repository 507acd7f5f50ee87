package api

import (
	"net/http"
)

type addAgentRequest struct {
	// ID is the terminator identity the agent binds the share's service with.
	ID     string `json:"id"`
	Target string `json:"target"`
}

// addAgent records an agent serving a share, so that frontends balance
// across the share's agents and reach each one by its terminator identity.
func (a *API) addAgent(w http.ResponseWriter, r *http.Request) {
	var req addAgentRequest
	if !decode(w, r, &req) {
		return
	}
	if !labelRE.MatchString(req.ID) {
		a.fail(w, inputError("agent id "+quote(req.ID)+" must be 1-63 of a-z, 0-9 and '-'"))
		return
	}
	changes, err := a.store.AddAgent(r.Context(), accountOf(r).ID, r.PathValue("token"), req.ID, req.Target)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	w.WriteHeader(http.StatusNoContent)
}

// removeAgent takes an agent out of its share's rotation; the agent calls it
// before it stops serving, so no new request goes to it.
func (a *API) removeAgent(w http.ResponseWriter, r *http.Request) {
	changes, err := a.store.RemoveAgent(r.Context(), accountOf(r).ID, r.PathValue("token"), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.pub.Publish(changes)
	w.WriteHeader(http.StatusNoContent)
}
