package deploy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/porticoproxy/portico/caddymodule"
	"github.com/porticoproxy/portico/deploy"
)

// Every option of the template renders to a Caddyfile that Caddy, with the
// Portico modules, adapts to what the option says.
func TestFrontendCaddyfileAdapts(t *testing.T) {
	f := deploy.Frontend{
		Admin:          "unix//run/my frontend/admin.sock|0600",
		Storage:        "file_system /var/lib/portico",
		TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1/32"},
		Controllers:    []string{"10.0.0.1:18080", "10.0.0.2:18080"},
		Frontend:       "fe-token",
		Identity:       "/etc/portico/my frontend.json",
		CacheDir:       "/var/cache/portico",
		Options:        []string{"resync_interval 2s"},
		OnDemandTLS:    true,
		Site:           "https://",
		Bind:           "127.0.0.1",
		Directives:     []string{`header X-Test "yes"`},
		Handler:        "portico {\n\t\tlb_policy round_robin\n\t}",
	}
	caddyfile, err := f.Caddyfile()
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfile, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting:\n%s\n%v", caddyfile, err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	var js any
	if err := json.Unmarshal(cfg, &js); err != nil {
		t.Fatal(err)
	}
	got := string(cfg)
	for _, want := range []string{
		`"listen":"unix//run/my frontend/admin.sock|0600"`,
		`"root":"/var/lib/portico"`,
		`"trusted_proxies_strict":1`,
		`"ranges":["10.0.0.0/8","127.0.0.1/32"]`,
		`"controllers":["10.0.0.1:18080","10.0.0.2:18080"]`,
		`"frontend":"fe-token"`,
		`"secret":"{env.PORTICO_FRONTEND_SECRET}"`,
		`"identity":"/etc/portico/my frontend.json"`,
		`"cache_dir":"/var/cache/portico"`,
		`"resync_interval":2000000000`,
		`"on_demand"`,
		`"permission":{"module":"portico"}`,
		`"listen":["127.0.0.1:443"]`,
		`"X-Test":["yes"]`,
		`"round_robin"`,
		`"handler":"portico_share"`,
		`"body":"{http.error.status_code} {http.error.status_text}: {http.error.message}"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the adapted config lacks %s:\n%s", want, got)
		}
	}
}

// A frontend without what every one needs is refused, naming what is missing.
func TestFrontendCaddyfileRefusesIncomplete(t *testing.T) {
	full := deploy.Frontend{Controllers: []string{"c:1"}, Frontend: "t", Identity: "i", CacheDir: "d", Site: ":80"}
	for name, edit := range map[string]func(*deploy.Frontend){
		"controllers": func(f *deploy.Frontend) { f.Controllers = nil },
		"token":       func(f *deploy.Frontend) { f.Frontend = "" },
		"identity":    func(f *deploy.Frontend) { f.Identity = "" },
		"cache":       func(f *deploy.Frontend) { f.CacheDir = "" },
		"site":        func(f *deploy.Frontend) { f.Site = "" },
	} {
		f := full
		edit(&f)
		if _, err := f.Caddyfile(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v, want an error naming it", name, err)
		}
	}
	if _, err := full.Caddyfile(); err != nil {
		t.Errorf("a complete frontend: %v", err)
	}
}
