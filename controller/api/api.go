// Package api serves the controller's REST API under /api/v1. Its handlers
// decode a request (internal/apitypes), call one workflow of
// controller/service or read the store, and encode the answer; this file
// holds the routes, authentication, and how errors are answered.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/service"
	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/apitypes"
)

// Config is what the API needs besides its collaborators.
type Config struct {
	// AdminToken authorises the admin calls.
	AdminToken string
	// Version is reported by GET /api/v1/version.
	Version string
	// OverlayWarnings, if set, says what is wrong with the OpenZiti network for Portico
	// (GET /api/v1/overlay), such as routers without a fix that Portico needs.
	OverlayWarnings func(ctx context.Context) []string
}

// API is the controller's HTTP handler.
type API struct {
	cfg    Config
	store  *store.Store // for reads; every change goes through svc
	svc    *service.Service
	logger *zap.Logger
	mux    *http.ServeMux
}

// New returns the API handler.
func New(cfg Config, st *store.Store, svc *service.Service, logger *zap.Logger) *API {
	a := &API{cfg: cfg, store: st, svc: svc, logger: logger, mux: http.NewServeMux()}
	a.routes()
	return a
}

func (a *API) routes() {
	a.mux.HandleFunc("GET /api/v1/version", a.version)

	a.mux.HandleFunc("POST /api/v1/accounts", a.admin(a.createAccount))
	a.mux.HandleFunc("POST /api/v1/namespaces", a.admin(a.createNamespace))
	a.mux.HandleFunc("GET /api/v1/namespaces", a.anyone(a.listNamespaces))
	a.mux.HandleFunc("POST /api/v1/namespaces/{name}/grants", a.admin(a.grantNamespace))
	a.mux.HandleFunc("POST /api/v1/frontends", a.admin(a.createFrontend))
	a.mux.HandleFunc("GET /api/v1/frontends", a.admin(a.listFrontends))
	a.mux.HandleFunc("POST /api/v1/frontends/{token}/namespaces", a.admin(a.mapNamespace))
	a.mux.HandleFunc("GET /api/v1/frontends/instances", a.admin(a.listInstances))
	a.mux.HandleFunc("GET /api/v1/leases", a.admin(a.listLeases))
	a.mux.HandleFunc("GET /api/v1/controllers", a.anyone(a.listControllers))
	a.mux.HandleFunc("GET /api/v1/overlay", a.account(a.overlay))

	a.mux.HandleFunc("POST /api/v1/environments", a.account(a.createEnvironment))
	a.mux.HandleFunc("GET /api/v1/environments", a.account(a.listEnvironments))
	a.mux.HandleFunc("DELETE /api/v1/environments/{id}", a.account(a.deleteEnvironment))
	a.mux.HandleFunc("POST /api/v1/shares", a.account(a.createShare))
	a.mux.HandleFunc("GET /api/v1/shares", a.account(a.listShares))
	a.mux.HandleFunc("GET /api/v1/shares/{token}", a.account(a.getShare))
	a.mux.HandleFunc("DELETE /api/v1/shares/{token}", a.account(a.deleteShare))
	a.mux.HandleFunc("POST /api/v1/shares/{token}/agents", a.account(a.addAgent))
	a.mux.HandleFunc("DELETE /api/v1/shares/{token}/agents/{id}", a.account(a.removeAgent))
	a.mux.HandleFunc("POST /api/v1/shares/{token}/accesses", a.account(a.createAccess))
	a.mux.HandleFunc("DELETE /api/v1/shares/{token}/accesses", a.account(a.deleteEnvironmentAccesses))
	a.mux.HandleFunc("DELETE /api/v1/shares/{token}/accesses/{id}", a.account(a.deleteAccess))
	a.mux.HandleFunc("POST /api/v1/shares/{token}/grants", a.account(a.grantShare))
	a.mux.HandleFunc("POST /api/v1/shares/{token}/domains", a.account(a.addDomain))
	a.mux.HandleFunc("GET /api/v1/shares/{token}/domains", a.account(a.listDomains))
	a.mux.HandleFunc("POST /api/v1/shares/{token}/domains/{domain}/verify", a.account(a.verifyDomain))
	a.mux.HandleFunc("DELETE /api/v1/shares/{token}/domains/{domain}", a.account(a.deleteDomain))

	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, apitypes.Version{Version: a.cfg.Version})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apitypes.Error{Code: code, Message: msg})
}

// fail answers with the status that fits err: a refused request maps to
// 400, 403 or 422, the store's sentinel errors to 404 and 409, a spent
// journal budget to 429, an OpenZiti cluster without quorum to a 503 that
// says so, anything else is logged and answered as 503 (the
// database or the overlay did not answer).
func (a *API) fail(w http.ResponseWriter, err error) {
	var budget *store.BudgetError
	switch {
	case errors.Is(err, service.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, service.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, service.ErrUnverified):
		writeError(w, http.StatusUnprocessableEntity, "unverified", err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, store.ErrLimit):
		writeError(w, http.StatusConflict, "limit", err.Error())
	case errors.As(err, &budget):
		w.Header().Set("Retry-After", strconv.Itoa(int(budget.RetryAfter.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too_many_changes", err.Error())
	case errors.Is(err, zitiauto.ErrNoQuorum):
		a.logger.Warn("request refused: the OpenZiti network has no quorum", zap.Error(err))
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "overlay_no_quorum",
			zitiauto.ErrNoQuorum.Error()+"; shares that exist keep working, and this works again once enough of them are back")
	default:
		// The cause can name the database, its user and host, or OpenZiti's
		// internals: it is for the operator's log, under an id the caller
		// can quote.
		id := token.New(8)
		a.logger.Error("request failed", zap.String("error_id", id), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "unavailable",
			"the controller's database or the OpenZiti network did not answer; try again (error "+id+" in the controller's log)")
	}
}

// maxBody bounds request bodies; every request here is small.
const maxBody = 1 << 20

// decode reads a JSON body into v, refusing unknown fields and trailing data,
// and answers 400 itself when the body is bad.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("unexpected data after the JSON object")
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body, want a JSON object")
		}
		writeError(w, http.StatusBadRequest, "bad_request", "malformed request body: "+err.Error())
		return false
	}
	return true
}

func bearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (a *API) isAdmin(r *http.Request) bool {
	tok := bearer(r)
	return tok != "" && a.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.AdminToken)) == 1
}

func (a *API) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing Authorization: Bearer <admin token>")
			return
		}
		if !a.isAdmin(r) {
			writeError(w, http.StatusForbidden, "forbidden", "this call needs the admin token")
			return
		}
		h(w, r)
	}
}

type accountKey struct{}

// account resolves the bearer token to an account for h.
func (a *API) account(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing Authorization: Bearer <account token>")
			return
		}
		acct, err := a.store.AccountByTokenHash(r.Context(), token.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusUnauthorized, "unauthorized", "unknown account token")
			return
		}
		if err != nil {
			a.fail(w, fmt.Errorf("looking up account: %w", err))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), accountKey{}, acct)))
	}
}

// anyone lets the admin or any account through.
func (a *API) anyone(h http.HandlerFunc) http.HandlerFunc {
	acct := a.account(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if a.isAdmin(r) {
			h(w, r)
			return
		}
		acct(w, r)
	}
}

func accountOf(r *http.Request) store.Account {
	return r.Context().Value(accountKey{}).(store.Account)
}

// overlay says what is wrong with the OpenZiti network for Portico, so that agents can warn
// their users: {"warnings": [...]}, empty when nothing is.
func (a *API) overlay(w http.ResponseWriter, r *http.Request) {
	out := apitypes.Overlay{Warnings: []string{}}
	if a.cfg.OverlayWarnings != nil {
		out.Warnings = append(out.Warnings, a.cfg.OverlayWarnings(r.Context())...)
	}
	writeJSON(w, http.StatusOK, out)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
