// admin.go holds the admin API routes that report the frontend's state.
package caddymodule

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/syncclient"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves GET /portico/status and GET /portico/mappings on Caddy's
// admin endpoint.
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
	Frontend string            `json:"frontend"`
	Revision int64             `json:"revision"`
	Mappings []mapping.Mapping `json:"mappings"`
}

func eachRuntime(fn func(*runtime)) {
	runtimes.Range(func(_, v any) bool {
		fn(v.(*runtime))
		return true
	})
}

func serveStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	out := []runtimeStatus{}
	eachRuntime(func(rt *runtime) { out = append(out, runtimeStatus{Frontend: rt.frontend, Status: rt.client.Status()}) })
	return writeAdminJSON(w, out)
}

func serveMappings(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	out := []runtimeMappings{}
	eachRuntime(func(rt *runtime) {
		rev, ms := rt.table.Mappings()
		out = append(out, runtimeMappings{Frontend: rt.frontend, Revision: rev, Mappings: ms})
	})
	return writeAdminJSON(w, out)
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
