package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/policy"
)

// unverifiedUser says email_verified: false outright, which MockUser omits.
type unverifiedUser struct{ mockoidc.MockUser }

type unverifiedClaims struct {
	*mockoidc.IDTokenClaims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

func (u *unverifiedUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &unverifiedClaims{IDTokenClaims: c, Email: u.Email}, nil
}

const testCookieKey = "0123456789abcdef0123456789abcdef-test"

func TestOAuthConfigValidate(t *testing.T) {
	good := OAuthProvider{Name: "corp", Issuer: "https://sso.example.com", ClientID: "id", ClientSecret: "secret"}
	tests := []struct {
		name string
		cfg  OAuthConfig
		want string
	}{
		{name: "valid", cfg: OAuthConfig{CookieKey: testCookieKey, Providers: []OAuthProvider{good, {Name: "github", ClientID: "i", ClientSecret: "s"}}}},
		{name: "short key", cfg: OAuthConfig{CookieKey: "short", Providers: []OAuthProvider{good}}, want: "cookie_key must be at least 32 bytes"},
		{name: "no provider", cfg: OAuthConfig{CookieKey: testCookieKey}, want: "at least one provider"},
		{name: "twice", cfg: OAuthConfig{CookieKey: testCookieKey, Providers: []OAuthProvider{good, good}}, want: `"corp" is configured twice`},
		{name: "no issuer", cfg: OAuthConfig{CookieKey: testCookieKey, Providers: []OAuthProvider{{Name: "corp", ClientID: "i", ClientSecret: "s"}}}, want: "is not an http(s) URL"},
		{name: "no secret", cfg: OAuthConfig{CookieKey: testCookieKey, Providers: []OAuthProvider{{Name: "google", ClientID: "i"}}}, want: "client_id and client_secret are required"},
		{name: "bad name", cfg: OAuthConfig{CookieKey: testCookieKey, Providers: []OAuthProvider{{Name: "Corp SSO", Issuer: "https://x", ClientID: "i", ClientSecret: "s"}}}, want: "want lower-case letters"},
		{name: "issuer for google", cfg: OAuthConfig{CookieKey: testCookieKey, Providers: []OAuthProvider{{Name: "google", Issuer: "https://x", ClientID: "i", ClientSecret: "s"}}}, want: "the issuer is built in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.provision()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("provision() = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("placeholders", func(t *testing.T) {
		t.Setenv("TEST_COOKIE_KEY", testCookieKey)
		t.Setenv("TEST_CLIENT_SECRET", "from-env")
		cfg := OAuthConfig{CookieKey: "{env.TEST_COOKIE_KEY}", Providers: []OAuthProvider{{Name: "github", ClientID: "i", ClientSecret: "{env.TEST_CLIENT_SECRET}"}}}
		o, err := cfg.provision()
		if err != nil {
			t.Fatal(err)
		}
		if gh := o.providers["github"].(*githubProvider); gh.cfg.ClientSecret != "from-env" {
			t.Errorf("client secret = %q", gh.cfg.ClientSecret)
		}
	})
}

func TestGitHubPrimaryEmail(t *testing.T) {
	tests := []struct {
		name, body, want string
		status           int
		unverified       bool
	}{
		{name: "verified primary", body: `[{"email":"old@x.org","primary":false,"verified":true},{"email":"me@x.org","primary":true,"verified":true}]`, want: "me@x.org"},
		{name: "unverified primary", body: `[{"email":"me@x.org","primary":true,"verified":false},{"email":"alt@x.org","primary":false,"verified":true}]`, unverified: true},
		{name: "none", body: `[]`, unverified: true},
		{name: "api error", status: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/user/emails" {
					http.NotFound(w, r)
					return
				}
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				io.WriteString(w, tt.body)
			}))
			defer api.Close()
			got, err := githubPrimaryEmail(context.Background(), api.Client(), api.URL)
			switch {
			case tt.want != "":
				if err != nil || got != tt.want {
					t.Fatalf("= %q, %v; want %q", got, err, tt.want)
				}
			case tt.unverified:
				if err != errUnverified {
					t.Fatalf("= %q, %v; want errUnverified", got, err)
				}
			default:
				if err == nil || err == errUnverified {
					t.Fatalf("= %q, %v; want an API error", got, err)
				}
			}
		})
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?c=d": "/a/b?c=d", "": "/", "//evil.example/": "/", "/\\evil.example": "/",
		"https://evil.example/": "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOAuthLoginRoundTrip logs in through a real Caddy against a real OIDC
// provider running in-process: redirect, provider, callback, cookie, share.
func TestOAuthLoginRoundTrip(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	oc := idp.Config()

	f := startCaddy(t, map[string]any{"oauth": map[string]any{
		"cookie_key": testCookieKey,
		"providers": []any{map[string]any{
			"name": "mock", "issuer": idp.Issuer(), "client_id": oc.ClientID, "client_secret": oc.ClientSecret,
		}},
	}}, map[string]map[string]any{"direct": {}})
	oauthPolicy := func(domains ...string) []byte {
		return policyJSON(t, policy.Policy{OAuth: &policy.OAuth{Provider: "mock", EmailDomains: domains}})
	}
	f.table.Replace(1, []mapping.Mapping{
		{Name: "oauth.share.test", Share: "shr-oauth", Policy: oauthPolicy("example.com")},
		{Name: "other.share.test", Share: "shr-other", Policy: oauthPolicy("example.com")},
		{Name: "nosuch.share.test", Share: "shr-nosuch", Policy: policyJSON(t, policy.Policy{OAuth: &policy.OAuth{Provider: "nosuch"}})},
	})
	_, port, _ := net.SplitHostPort(f.servers["direct"])

	// browser resolves every *.share.test to the frontend and keeps cookies.
	browser := func(follow bool) *http.Client {
		jar, _ := cookiejar.New(nil)
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasSuffix(strings.Split(addr, ":")[0], ".share.test") {
				addr = f.servers["direct"]
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Jar: jar, Transport: tr}
		if !follow {
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		}
		return c
	}
	shareURL := func(host, path string) string { return "http://" + host + ":" + port + path }
	get := func(t *testing.T, c *http.Client, rawURL string, header http.Header) (*http.Response, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var seen http.Header
		if body, _ := io.ReadAll(resp.Body); resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &seen); err != nil {
				t.Fatalf("backend answer %q: %v", body, err)
			}
		}
		return resp, seen
	}

	ann := browser(true)
	var annSession *http.Cookie
	t.Run("login round trip", func(t *testing.T) {
		idp.QueueUser(&mockoidc.MockUser{Subject: "ann", Email: "ann@example.com", EmailVerified: true})
		resp, seen := get(t, ann, shareURL("oauth.share.test", "/docs/page?x=1"), http.Header{"X-Portico-User": {"root@example.com"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		if got := resp.Request.URL.RequestURI(); got != "/docs/page?x=1" {
			t.Errorf("landed on %s, want the page the visitor asked for", got)
		}
		if seen.Get(HeaderUser) != "ann@example.com" || seen.Get(HeaderAuth) != "oauth" {
			t.Errorf("share saw identity %q/%q", seen.Get(HeaderUser), seen.Get(HeaderAuth))
		}
		if strings.Contains(seen.Get("Cookie"), sessionCookie) {
			t.Errorf("the session cookie reached the share: %q", seen.Get("Cookie"))
		}
		for _, c := range ann.Jar.Cookies(&url.URL{Scheme: "http", Host: "oauth.share.test"}) {
			if c.Name == sessionCookie {
				annSession = c
			}
		}
		if annSession == nil {
			t.Fatal("no session cookie for the share's host")
		}
		if cs := ann.Jar.Cookies(&url.URL{Scheme: "http", Host: "other.share.test"}); len(cs) != 0 {
			t.Errorf("cookies leak to another share's host: %v", cs)
		}
	})
	t.Run("the session cookie is encrypted", func(t *testing.T) {
		// securecookie's format: base64url("date|base64url(value)|mac"); a
		// cookie that was only signed would carry the JSON session in value.
		raw, err := base64.URLEncoding.DecodeString(annSession.Value)
		parts := bytes.SplitN(raw, []byte("|"), 3) // the binary MAC may hold a '|' too
		if err != nil || len(parts) != 3 {
			t.Fatalf("the session cookie is not securecookie's (%v): %q", err, raw)
		}
		value, err := base64.URLEncoding.DecodeString(string(parts[1]))
		if err != nil {
			t.Fatal(err)
		}
		for _, plain := range []string{"ann@example.com", `"email"`} {
			if bytes.Contains(value, []byte(plain)) || bytes.Contains(raw, []byte(plain)) {
				t.Errorf("the session cookie shows %s in the clear", plain)
			}
		}
	})
	t.Run("the session admits without the provider", func(t *testing.T) {
		noRedirects := browser(false)
		noRedirects.Jar.SetCookies(&url.URL{Scheme: "http", Host: "oauth.share.test"}, []*http.Cookie{annSession})
		resp, seen := get(t, noRedirects, shareURL("oauth.share.test", "/again"), nil)
		if resp.StatusCode != http.StatusOK || seen.Get(HeaderUser) != "ann@example.com" {
			t.Fatalf("status %d, user %q", resp.StatusCode, seen.Get(HeaderUser))
		}
	})
	t.Run("a tampered cookie is refused", func(t *testing.T) {
		v := []byte(annSession.Value)
		v[len(v)/2] ^= 1
		for name, value := range map[string]string{"tampered": string(v), "garbage": "not-a-cookie"} {
			c := browser(false)
			resp, _ := get(t, c, shareURL("oauth.share.test", "/"), http.Header{"Cookie": {sessionCookie + "=" + value}})
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), idp.Issuer()) {
				t.Errorf("%s cookie: status %d, Location %q; want a new login", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
	t.Run("a session is not valid on another share", func(t *testing.T) {
		c := browser(false)
		resp, _ := get(t, c, shareURL("other.share.test", "/"), http.Header{"Cookie": {sessionCookie + "=" + annSession.Value}})
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d, want a new login", resp.StatusCode)
		}
	})
	t.Run("login redirect carries state and PKCE", func(t *testing.T) {
		resp, _ := get(t, browser(false), shareURL("oauth.share.test", "/"), nil)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d, Location %v", resp.StatusCode, err)
		}
		q := loc.Query()
		if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
			t.Errorf("authorize request = %v", q)
		}
		if want := shareURL("oauth.share.test", oauthCallbackPath); q.Get("redirect_uri") != want {
			t.Errorf("redirect_uri = %q, want %q", q.Get("redirect_uri"), want)
		}
	})
	t.Run("an email outside the domains is refused", func(t *testing.T) {
		idp.QueueUser(&mockoidc.MockUser{Subject: "bob", Email: "bob@other.org", EmailVerified: true})
		resp, _ := get(t, browser(true), shareURL("oauth.share.test", "/"), nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", resp.StatusCode)
		}
	})
	t.Run("an unverified email is refused", func(t *testing.T) {
		idp.QueueUser(&unverifiedUser{MockUser: mockoidc.MockUser{Subject: "eve", Email: "eve@example.com"}})
		resp, _ := get(t, browser(true), shareURL("oauth.share.test", "/"), nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", resp.StatusCode)
		}
	})
	t.Run("an email without email_verified is refused", func(t *testing.T) {
		// MockUser omits a false email_verified: the id_token carries no claim at all.
		idp.QueueUser(&mockoidc.MockUser{Subject: "mallory", Email: "mallory@example.com"})
		resp, _ := get(t, browser(true), shareURL("oauth.share.test", "/"), nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403: a provider that does not say an email is verified does not vouch for it", resp.StatusCode)
		}
	})
	t.Run("a forged callback is refused", func(t *testing.T) {
		resp, _ := get(t, browser(false), shareURL("oauth.share.test", oauthCallbackPath+"?code=x&state=y"), nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("a provider the frontend lacks fails closed", func(t *testing.T) {
		resp, _ := get(t, browser(false), shareURL("nosuch.share.test", "/"), nil)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503", resp.StatusCode)
		}
	})
}

func TestOAuthCookies(t *testing.T) {
	plain := httptest.NewRequest(http.MethodGet, "http://a.share.test/", nil)
	secure := httptest.NewRequest(http.MethodGet, "https://a.share.test/", nil)
	if got := cookie(secure, sessionCookie, "v", time.Hour); got.Name != "__Host-portico_session" || !got.Secure || got.Domain != "" || got.Path != "/" || !got.HttpOnly {
		t.Errorf("HTTPS session cookie = %+v", got)
	}
	if got := cookie(plain, loginCookie, "", -1); got.Name != loginCookie || got.Secure || got.MaxAge != -1 {
		t.Errorf("HTTP login cookie deletion = %+v", got)
	}
	r := httptest.NewRequest(http.MethodGet, "http://a.share.test/", nil)
	r.Header.Set("Cookie", "app=1; portico_session=x; __Host-portico_login=y; theme=dark")
	hideCookies(r)
	if got := r.Header.Get("Cookie"); got != "app=1; theme=dark" {
		t.Errorf("Cookie after hideCookies = %q", got)
	}
}
