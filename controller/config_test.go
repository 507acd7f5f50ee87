package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "controller.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigExpandsVariables(t *testing.T) {
	t.Setenv("PORTICO_TEST_ADMIN", "admin-token-from-the-environment")
	cfg, err := LoadConfig(writeConfig(t, `
admin_token: ${PORTICO_TEST_ADMIN}
ziti:
  management_url: https://127.0.0.1:1280
  username: admin
  password: pa$word$1
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminToken != "admin-token-from-the-environment" {
		t.Errorf("admin_token = %q, want the variable's value", cfg.AdminToken)
	}
	if cfg.Ziti.Password != "pa$word$1" {
		t.Errorf("password = %q: a $ that is no ${VAR} must be kept", cfg.Ziti.Password)
	}
}

func TestLoadConfigBadInput(t *testing.T) {
	os.Unsetenv("PORTICO_TEST_UNSET")
	for _, tc := range []struct{ name, body, want string }{
		{"unset variable", "admin_token: ${PORTICO_TEST_UNSET}\n", "PORTICO_TEST_UNSET"},
		{"malformed yaml", "api: [unclosed\n", "parsing config"},
		{"unknown key", "admni_token: x\n", "admni_token"},
		{"wrong type", "workers:\n  reap_after: [1]\n", "parsing config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Fatalf("LoadConfig of a missing file = %v", err)
	}
}

func TestValidateSaysWhatIsWrong(t *testing.T) {
	cfg := Config{AdminToken: "short", TLS: TLSConfig{CertFile: "c.pem"}, DNSResolver: "no-port"}
	err := cfg.Validate()
	for _, want := range []string{"admin_token", "ziti.management_url (or management_urls", "tls needs both", "dns_resolver"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %q", err, want)
		}
	}
}

// An OpenZiti cluster is listed under management_urls, beside or instead of
// management_url; the controller is given every address once.
func TestLoadConfigListsOpenZitiMembers(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, `
admin_token: admin-token-0123456789
ziti:
  management_url: https://ziti-1:1280
  management_urls: [https://ziti-2:1280, https://ziti-3:1280]
  username: admin
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Ziti.urls(), " "); got != "https://ziti-1:1280 https://ziti-2:1280 https://ziti-3:1280" {
		t.Errorf("urls = %s", got)
	}
	only := ZitiConfig{ManagementURLs: []string{"https://ziti-2:1280"}}
	if got := only.urls(); len(got) != 1 || got[0] != "https://ziti-2:1280" {
		t.Errorf("urls of a list alone = %v", got)
	}
}
