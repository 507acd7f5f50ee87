package caddymodule

// admin.go holds the admin API routes that report the frontend's state.

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/syncclient"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves GET /portico/status and GET /portico/mappings on Caddy's
// admin endpoint. Anyone who reaches that endpoint can reconfigure Caddy, so
// it belongs on a unix socket only its operator may open, or off; even so,
// the mappings it lists carry no password hashes.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.portico",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/portico/status", Handler: caddy.AdminHandlerFunc(serveStatus)},
		{Pattern: "/portico/mappings", Handler: caddy.AdminHandlerFunc(serveMappings)},
	}
}

type runtimeStatus struct {
	Frontend string `json:"frontend"`
	syncclient.Status
}

type runtimeMappings struct {
	Frontend string         `json:"frontend"`
	Revision int64          `json:"revision"`
	Mappings []adminMapping `json:"mappings"`
}

// adminMapping is a mapping as the admin endpoint lists it: its policy as
// JSON, with password hashes redacted (policy.Redacted).
type adminMapping struct {
	Name   string          `json:"name"`
	Share  string          `json:"share"`
	Policy json.RawMessage `json:"policy,omitempty"`
	Agents []string        `json:"agents,omitempty"`
}

func eachRuntime(fn func(*frontendRuntime)) {
	runtimes.Range(func(_, v any) bool {
		fn(v.(*frontendRuntime))
		return true
	})
}

func serveStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	out := []runtimeStatus{}
	eachRuntime(func(rt *frontendRuntime) {
		out = append(out, runtimeStatus{Frontend: rt.frontend, Status: rt.client.Status()})
	})
	return writeAdminJSON(w, out)
}

func serveMappings(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	out := []runtimeMappings{}
	eachRuntime(func(rt *frontendRuntime) {
		rev, ms := rt.table.Mappings()
		view := make([]adminMapping, len(ms))
		for i, m := range ms {
			view[i] = adminMapping{Name: m.Name, Share: m.Share, Policy: policy.Redacted(m.Policy), Agents: m.Agents}
		}
		out = append(out, runtimeMappings{Frontend: rt.frontend, Revision: rev, Mappings: view})
	})
	return writeAdminJSON(w, out)
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
