package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
)

// request returns a request with the context Caddy's server gives one.
func request(host string) (*http.Request, *caddy.Replacer) {
	r := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	return r.WithContext(ctx), repl
}

func statusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

func TestShareHandler(t *testing.T) {
	table := routes.NewTable()
	h := newHandler(table)
	var sawUpstreams []*reverseproxy.Upstream
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var err error
		sawUpstreams, err = Upstreams{}.GetUpstreams(r)
		return err
	})

	t.Run("not loaded is 503 with Retry-After", func(t *testing.T) {
		r, _ := request("abc.share.test")
		w := httptest.NewRecorder()
		err := h.ServeHTTP(w, r, next)
		if statusOf(err) != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("err = %v, Retry-After %q", err, w.Header().Get("Retry-After"))
		}
	})

	table.Replace(1, []mapping.Mapping{{Name: "abc.share.test", Share: "abc"}})

	t.Run("unknown host is 404", func(t *testing.T) {
		r, _ := request("nope.share.test")
		err := h.ServeHTTP(httptest.NewRecorder(), r, next)
		if statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "nope.share.test") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("known host reaches the share", func(t *testing.T) {
		r, repl := request("ABC.share.test.:8080")
		if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
			t.Fatal(err)
		}
		if len(sawUpstreams) != 1 || sawUpstreams[0].Dial != "abc:80" {
			t.Fatalf("upstreams = %+v", sawUpstreams)
		}
		if v, _ := repl.GetString("portico.share"); v != "abc" {
			t.Errorf("{portico.share} = %q", v)
		}
		if v, _ := repl.GetString("portico.name"); v != "abc.share.test" {
			t.Errorf("{portico.name} = %q", v)
		}
	})

	t.Run("a failed dial says the agent is offline", func(t *testing.T) {
		r, _ := request("abc.share.test")
		failing := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return caddyhttp.Error(http.StatusBadGateway, errors.New("dialing share abc over openziti: no terminators"))
		})
		err := h.ServeHTTP(httptest.NewRecorder(), r, failing)
		if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "share abc.share.test is offline") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUpstreamsWithoutShareHandler(t *testing.T) {
	r, _ := request("abc.share.test")
	if _, err := (Upstreams{}).GetUpstreams(r); err == nil {
		t.Fatal("GetUpstreams without portico_share succeeded")
	}
}

func TestLookupHotPathDoesNotAllocate(t *testing.T) {
	table := routes.NewTable()
	table.Replace(1, []mapping.Mapping{{Name: "abc.share.test", Share: "abc"}})
	r, _ := request("abc.share.test")
	r.Header.Set("Accept", "*/*")
	r.Header.Set("User-Agent", "test")
	allocs := testing.AllocsPerRun(100, func() {
		route, _ := table.Lookup(routes.NormalizeHost(r.Host))
		policy.StripIdentityHeaders(r.Header)
		if route.Access != nil || route.AccessErr != nil {
			panic("a share without a policy has one")
		}
		caddyhttp.SetVar(r.Context(), routeVar, route)
		if ups, _ := (Upstreams{}).GetUpstreams(r); len(ups) != 1 {
			panic("no upstream")
		}
	})
	if allocs != 0 {
		t.Errorf("lookup and upstreams allocate %v times per request", allocs)
	}
}

func TestPermission(t *testing.T) {
	table := routes.NewTable()
	table.Replace(1, []mapping.Mapping{{Name: "abc.share.test", Share: "abc"}})
	p := &Permission{table: table}
	if err := p.CertificateAllowed(context.Background(), "ABC.share.test"); err != nil {
		t.Errorf("live share refused: %v", err)
	}
	if err := p.CertificateAllowed(context.Background(), "other.share.test"); err == nil || !strings.Contains(err.Error(), "not a live share") {
		t.Errorf("unmapped host allowed: %v", err)
	}
}

// Error pages show {err.message}: it says what a visitor needs and never
// the share's token or the proxy's own error, which go to the log.
func TestErrorsShowVisitorsNoDetail(t *testing.T) {
	table := routes.NewTable()
	table.Replace(1, []mapping.Mapping{{Name: "app.share.test", Share: "tok7secret"}})
	core, logs := observer.New(zap.WarnLevel)
	h := &Handler{table: table, refusals: zap.New(core)}
	for _, tt := range []struct {
		status int
		want   string
	}{
		{http.StatusBadGateway, "share app.share.test is offline: its agent is not connected"},
		{http.StatusGatewayTimeout, "share app.share.test: Gateway Timeout"},
		{http.StatusInternalServerError, "share app.share.test: Internal Server Error"},
	} {
		r, _ := request("app.share.test")
		failing := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return caddyhttp.Error(tt.status, errors.New("dial tok7secret over openziti: service tok7secret has no terminators"))
		})
		err := h.ServeHTTP(httptest.NewRecorder(), r, failing)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != tt.status || he.Err.Error() != tt.want {
			t.Errorf("%d from the proxy: %v, want %d %q", tt.status, err, tt.status, tt.want)
		}
	}
	entries := logs.FilterMessage("share app.share.test is offline: its agent is not connected").All()
	if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["error"].(string), "no terminators") || entries[0].ContextMap()["share"] != "tok7secret" {
		t.Errorf("logged %+v; want the proxy's error with the share's token", logs.All())
	}
}
