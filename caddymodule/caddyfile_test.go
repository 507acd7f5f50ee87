package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestCaddyfileAdapt checks each testdata/caddyfile_adapt/*.caddyfiletest:
// a Caddyfile, a "----------" line, then the JSON it must adapt to.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("../testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt tests found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("missing ---------- separator")
			}
			if !caddytest.CompareAdapt(t, file, strings.TrimSpace(caddyfile)+"\n", "caddyfile", strings.TrimSpace(expected)) {
				t.Error("adapted JSON differs")
			}
		})
	}
}

// TestCaddyfileErrors checks that bad Caddyfile input fails with an error
// that names the problem.
func TestCaddyfileErrors(t *testing.T) {
	tests := map[string]struct{ caddyfile, want string }{
		"unknown option": {
			"{\n\tportico {\n\t\tfrontnd x\n\t}\n}\n:80 {\n\tportico\n}\n",
			`unrecognized portico option "frontnd"`,
		},
		"bad resync interval": {
			"{\n\tportico {\n\t\tresync_interval soon\n\t}\n}\n:80 {\n\tportico\n}\n",
			"bad resync_interval",
		},
		"shortcut with upstream": {
			":80 {\n\tportico localhost:9000\n}\n",
			"portico takes no upstream addresses",
		},
		"shortcut with transport": {
			":80 {\n\tportico {\n\t\ttransport http\n\t}\n}\n",
			"portico sets transport itself",
		},
		"portico_share with argument": {
			":80 {\n\tportico_share foo\n}\n",
			"portico_share takes no arguments",
		},
		"oauth unknown option": {
			"{\n\tportico {\n\t\toauth {\n\t\t\tcookie x\n\t\t}\n\t}\n}\n:80 {\n\tportico\n}\n",
			`unrecognized oauth option "cookie"`,
		},
		"oidc without a name": {
			"{\n\tportico {\n\t\toauth {\n\t\t\toidc {\n\t\t\t\tissuer https://x\n\t\t\t}\n\t\t}\n\t}\n}\n:80 {\n\tportico\n}\n",
			"oidc needs a name",
		},
		"github with an issuer": {
			"{\n\tportico {\n\t\toauth {\n\t\t\tgithub {\n\t\t\t\tissuer https://x\n\t\t\t}\n\t\t}\n\t}\n}\n:80 {\n\tportico\n}\n",
			"github has a built-in issuer",
		},
		"github assuming verified emails": {
			"{\n\tportico {\n\t\toauth {\n\t\t\tgithub {\n\t\t\t\tassume_email_verified\n\t\t\t}\n\t\t}\n\t}\n}\n:80 {\n\tportico\n}\n",
			"assume_email_verified is for OIDC providers",
		},
		"dynamic portico with argument": {
			":80 {\n\treverse_proxy {\n\t\tdynamic portico foo\n\t}\n}\n",
			"dynamic portico takes no arguments",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tt.caddyfile), map[string]any{"filename": "Caddyfile"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Adapt error = %v, want one containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("error %q does not name the file and line", err)
			}
		})
	}
}

// TestCaddyfileExampleIsValid provisions Caddyfile.example the way `caddy
// validate` does, which must work offline.
func TestCaddyfileExampleIsValid(t *testing.T) {
	t.Setenv("PORTICO_FRONTEND_TOKEN", "fe123")
	t.Setenv("PORTICO_FRONTEND_SECRET", "secret")
	data, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapting Caddyfile.example: %v", err)
	}
	var c caddy.Config
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatalf("Caddyfile.example does not validate: %v", err)
	}
}

// A placeholder that resolves to nothing, such as a misspelt environment
// variable, stops the config instead of quietly turning a setting off.
func TestPlaceholderTyposAreErrors(t *testing.T) {
	t.Setenv("PORTICO_FRONTEND_SECRET", "secret")
	for field, line := range map[string]string{
		"amqp":       "amqp {env.PORTICO_AMQPP_MISSPELT}",
		"cookie_key": "oauth {\n\t\t\tcookie_key {env.PORTICO_COOKIE_MISSPELT}\n\t\t\tgithub id secret\n\t\t}",
	} {
		t.Run(field, func(t *testing.T) {
			src := "{\n\tportico {\n\t\tcontrollers 127.0.0.1:1\n\t\tfrontend fe\n\t\tsecret {env.PORTICO_FRONTEND_SECRET}\n\t\tidentity /nonexistent.json\n\t\t" + line + "\n\t}\n}\n\nhttp://*.share.test {\n\tportico\n}\n"
			cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			var c caddy.Config
			if err := json.Unmarshal(cfg, &c); err != nil {
				t.Fatal(err)
			}
			if err := caddy.Validate(&c); err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "MISSPELT") {
				t.Errorf("a misspelt variable in %s: %v, want an error naming both", field, err)
			}
		})
	}
}
