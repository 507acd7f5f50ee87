package policy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var (
	hashOnce sync.Once
	hash     string // bcrypt of "secret" at the minimum cost
)

func secretHash(t testing.TB) string {
	hashOnce.Do(func() {
		b, err := bcrypt.GenerateFromPassword([]byte("secret"), MinBcryptCost)
		if err != nil {
			t.Fatal(err)
		}
		hash = string(b)
	})
	return hash
}

func TestValidate(t *testing.T) {
	good := secretHash(t)
	cheap, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	tests := []struct {
		name string
		p    Policy
		want []string // substrings of the error; none means valid
	}{
		{name: "zero value", p: Policy{}},
		{name: "everything", p: Policy{
			BasicAuth:       []User{{"alice", good}, {"bob", good}},
			IPAllow:         []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:10.0.0.0/104"},
			IPDeny:          []string{"10.1.0.0/16"},
			RequestHeaders:  HeaderRules{Set: map[string]string{"x-env": "prod"}, Remove: []string{"Cookie"}},
			ResponseHeaders: HeaderRules{Set: map[string]string{"Strict-Transport-Security": "max-age=300"}, Remove: []string{"Server"}},
		}},
		{name: "oauth with rules", p: Policy{OAuth: &OAuth{Provider: "corp-sso", EmailDomains: []string{"example.com"}, Emails: []string{"a@b.org"}}}},
		{name: "empty username", p: Policy{BasicAuth: []User{{"", good}}}, want: []string{"basic_auth[0]: username is empty"}},
		{name: "colon in username", p: Policy{BasicAuth: []User{{"a:b", good}}}, want: []string{"holds a colon"}},
		{name: "duplicate username", p: Policy{BasicAuth: []User{{"a", good}, {"a", good}}}, want: []string{`basic_auth[1]: username "a" appears twice`}},
		{name: "plaintext password", p: Policy{BasicAuth: []User{{"a", "hunter2"}}}, want: []string{"basic_auth[0] (a): password_hash is not a bcrypt hash"}},
		{name: "truncated hash", p: Policy{BasicAuth: []User{{"a", good[:40]}}}, want: []string{"not a well-formed bcrypt hash"}},
		{name: "cheap hash", p: Policy{BasicAuth: []User{{"a", string(cheap)}}}, want: []string{"bcrypt cost 4; want 10 to 12"}},
		{name: "bad CIDR", p: Policy{IPAllow: []string{"10.0.0.0/33"}}, want: []string{`ip_allow[0]: "10.0.0.0/33" is not a CIDR`}},
		{name: "not an address", p: Policy{IPDeny: []string{"ok", "example.com"}}, want: []string{`ip_deny[0]: "ok" is neither`, `ip_deny[1]: "example.com"`}},
		{name: "zone", p: Policy{IPDeny: []string{"fe80::1%eth0"}}, want: []string{"zone"}},
		{name: "both logins", p: Policy{BasicAuth: []User{{"a", good}}, OAuth: &OAuth{Provider: "github"}}, want: []string{"cannot both be set"}},
		{name: "oauth without provider", p: Policy{OAuth: &OAuth{}}, want: []string{"oauth.provider: the provider name is empty"}},
		{name: "oauth provider shape", p: Policy{OAuth: &OAuth{Provider: "https://accounts.google.com"}}, want: []string{"want lower-case letters"}},
		{name: "oauth domain with @", p: Policy{OAuth: &OAuth{Provider: "github", EmailDomains: []string{"@example.com"}}}, want: []string{"is a domain without '@'"}},
		{name: "oauth bad domain", p: Policy{OAuth: &OAuth{Provider: "github", EmailDomains: []string{"localhost", ""}}}, want: []string{"email_domains[0]", "email_domains[1] is empty"}},
		{name: "oauth bad email", p: Policy{OAuth: &OAuth{Provider: "github", Emails: []string{"nobody", "a@b@c"}}}, want: []string{`emails[0]: "nobody"`, `emails[1]`}},
		{name: "empty header name", p: Policy{RequestHeaders: HeaderRules{Remove: []string{""}}}, want: []string{"request_headers.remove[0]: header name is empty"}},
		{name: "bad header name", p: Policy{ResponseHeaders: HeaderRules{Set: map[string]string{"X Bad": "v"}}}, want: []string{`"X Bad" is not a valid header name`}},
		{name: "header value with newline", p: Policy{ResponseHeaders: HeaderRules{Set: map[string]string{"X-A": "a\r\nSet-Cookie: x=y"}}}, want: []string{"control character"}},
		{name: "frame header", p: Policy{ResponseHeaders: HeaderRules{Set: map[string]string{"content-length": "0"}}}, want: []string{"Content-Length cannot be changed"}},
		{name: "request identity header", p: Policy{RequestHeaders: HeaderRules{Set: map[string]string{"x-portico-user": "root"}}}, want: []string{"X-Portico-User is set by the frontend alone"}},
		{name: "response identity header is fine", p: Policy{ResponseHeaders: HeaderRules{Remove: []string{"X-Portico-Debug"}}}},
		{name: "too many users", p: Policy{BasicAuth: make([]User, MaxUsers+1)}, want: []string{"basic_auth has 101 entries; at most 100"}},
		{name: "too many addresses", p: Policy{IPAllow: make([]string, MaxAddressRules+1), IPDeny: make([]string, MaxAddressRules+1)},
			want: []string{"ip_allow has 501 entries; at most 500", "ip_deny has 501"}},
		{name: "too many emails", p: Policy{OAuth: &OAuth{Provider: "github", Emails: make([]string, MaxEmails+1)}}, want: []string{"oauth has 0 email_domains and 501 emails; at most 100 and 500"}},
		{name: "too many header rules", p: Policy{RequestHeaders: HeaderRules{Remove: make([]string, MaxHeaderRules+1)}}, want: []string{"request_headers has 0 set and 51 remove rules; at most 50 of each"}},
		{name: "long header value", p: Policy{ResponseHeaders: HeaderRules{Set: map[string]string{"X-A": strings.Repeat("v", MaxValueBytes+1)}}}, want: []string{`response_headers.set["X-A"]: the value is 4097 bytes; at most 4096`}},
		{name: "long header name", p: Policy{RequestHeaders: HeaderRules{Remove: []string{strings.Repeat("h", MaxNameBytes+1)}}}, want: []string{"header name is 257 bytes"}},
		{name: "long username", p: Policy{BasicAuth: []User{{strings.Repeat("u", MaxNameBytes+1), good}}}, want: []string{"username is 257 bytes"}},
		{name: "long email", p: Policy{OAuth: &OAuth{Provider: "github", Emails: []string{strings.Repeat("e", MaxNameBytes) + "@x.org"}}}, want: []string{"oauth.emails[0] is 262 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// A policy within every count can still be large; Encode bounds its bytes,
// and Parse bounds what a frontend will decode.
func TestSizeBounds(t *testing.T) {
	p := Policy{ResponseHeaders: HeaderRules{Set: map[string]string{}}}
	for i := range MaxHeaderRules {
		p.ResponseHeaders.Set[strings.Repeat("h", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", MaxValueBytes)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("the policy breaks a count, not the size: %v", err)
	}
	if _, err := p.Encode(); err == nil || !strings.Contains(err.Error(), "bytes as JSON; at most 32768") {
		t.Errorf("Encode() of a 200 KiB policy: %v, want a size error", err)
	}
	huge := `{"ip_allow":["` + strings.Repeat("1", MaxBytes) + `"]}`
	if _, err := Parse([]byte(huge)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("Parse() of an oversized policy: %v, want a size error", err)
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantNil bool
		wantErr string
	}{
		{name: "empty", raw: "", wantNil: true},
		{name: "null", raw: " null ", wantNil: true},
		{name: "empty object", raw: "{}", wantNil: true},
		{name: "empty rules", raw: `{"request_headers":{},"ip_allow":[]}`, wantNil: true},
		{name: "ip rule", raw: `{"ip_deny":["10.0.0.0/8"]}`},
		{name: "agents are not a policy's", raw: `{"agents":["a1"]}`, wantErr: `unknown field "agents"`},
		{name: "malformed", raw: `{"ip_deny":`, wantErr: "decoding policy"},
		{name: "unknown field", raw: `{"basic_auth":[{"user":"u"}]}`, wantErr: `unknown field "user"`},
		{name: "wrong type", raw: `{"ip_allow":"10.0.0.0/8"}`, wantErr: "decoding policy"},
		{name: "trailing data", raw: `{} {}`, wantErr: "data after"},
		{name: "invalid", raw: `{"ip_allow":["nope"]}`, wantErr: `ip_allow[0]: "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile([]byte(tt.raw))
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || c != nil {
					t.Fatalf("Compile = %v, %v; want nil and an error with %q", c, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Compile: %v", err)
			case tt.wantNil != (c == nil):
				t.Fatalf("Compile = %v, want nil: %v", c, tt.wantNil)
			}
		})
	}
}

func TestAllowsAddress(t *testing.T) {
	c, err := Compile([]byte(`{"ip_allow":["10.0.0.0/8","2001:db8::/32","192.0.2.7"],"ip_deny":["10.9.0.0/16","::ffff:10.8.0.0/112"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3":         true,
		"192.0.2.7":        true,
		"192.0.2.8":        false,
		"10.9.0.1":         false, // deny wins
		"10.8.0.1":         false, // the 4in6 deny range applies to IPv4
		"::ffff:10.9.0.1":  false,
		"::ffff:10.1.2.3":  true,
		"2001:db8::1":      true,
		"2001:db9::1":      false,
		"fe80::1%eth0":     false,
		"2001:db8::1%eth0": true,
	} {
		if got := c.AllowsAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsAddress(%s) = %v, want %v", addr, got, want)
		}
	}
	deny, _ := Compile([]byte(`{"ip_deny":["203.0.113.0/24"]}`))
	if !deny.AllowsAddress(netip.MustParseAddr("198.51.100.1")) || deny.AllowsAddress(netip.MustParseAddr("203.0.113.9")) {
		t.Error("a deny-only policy should admit everyone outside its ranges")
	}
}

func TestCheckBasicAuth(t *testing.T) {
	p := Policy{BasicAuth: []User{{"alice", secretHash(t)}, {"bob", secretHash(t)}}}
	c, err := p.Compile()
	if err != nil || !c.RequiresBasicAuth() {
		t.Fatalf("Compile = %v, %v", c, err)
	}
	tests := []struct {
		user, pass string
		want       bool
	}{
		{"alice", "secret", true},
		{"bob", "secret", true},
		{"alice", "secret", true}, // from the cache
		{"alice", "Secret", false},
		{"alice", "", false},
		{"mallory", "secret", false},
		{"", "", false},
		{"Alice", "secret", false},
	}
	for _, tt := range tests {
		if got, err := c.CheckBasicAuth(context.Background(), tt.user, tt.pass); got != tt.want || err != nil {
			t.Errorf("CheckBasicAuth(%q, %q) = %v, want %v", tt.user, tt.pass, got, tt.want)
		}
	}
	if n := len(c.logins.ok); n != 2 {
		t.Errorf("%d logins cached, want 2 (successes only)", n)
	}
}

func TestCheckBasicAuthConcurrent(t *testing.T) {
	c, _ := Policy{BasicAuth: []User{{"alice", secretHash(t)}}}.Compile()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pass := "secret"
			if i%2 == 1 {
				pass = "wrong"
			}
			if got, _ := c.CheckBasicAuth(context.Background(), "alice", pass); got != (i%2 == 0) {
				t.Errorf("CheckBasicAuth(alice, %s) = %v", pass, got)
			}
		}()
	}
	wg.Wait()
}

// No more bcrypt compares run at once than the process has CPUs; a login
// that cannot get a slot before its context ends fails with ErrLoginsBusy,
// while a login the policy accepted before needs no slot.
func TestCompareSlots(t *testing.T) {
	c, _ := Policy{BasicAuth: []User{{"alice", secretHash(t)}}}.Compile()
	if ok, err := c.CheckBasicAuth(context.Background(), "alice", "secret"); !ok || err != nil {
		t.Fatalf("first login: %v, %v", ok, err)
	}
	for range cap(compareSlots) {
		compareSlots <- struct{}{}
	}
	defer func() {
		for range cap(compareSlots) {
			<-compareSlots
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for _, user := range []string{"alice", "mallory"} {
		if ok, err := c.CheckBasicAuth(ctx, user, "guess"); ok || !errors.Is(err, ErrLoginsBusy) {
			t.Errorf("%s with every slot taken: %v, %v; want ErrLoginsBusy", user, ok, err)
		}
	}
	if ok, err := c.CheckBasicAuth(ctx, "alice", "secret"); !ok || err != nil {
		t.Errorf("a cached login with every slot taken: %v, %v; want it let in", ok, err)
	}
}

func TestFailedLogins(t *testing.T) {
	f := NewFailedLogins(3, time.Hour, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if err := f.Allow("s1", a); err != nil {
			t.Fatalf("failure %d refused early: %v", i+1, err)
		}
		f.Failed("s1", a)
	}
	var tooMany *TooManyFailures
	if err := f.Allow("s1", a); !errors.As(err, &tooMany) || tooMany.RetryAfter < 59*time.Minute {
		t.Errorf("after the burst: %v, want TooManyFailures for about an hour", err)
	}
	if f.Allow("s2", a) != nil || f.Allow("s1", b) != nil {
		t.Error("another share or another client was refused")
	}
	// IPv6 clients count by /64.
	f = NewFailedLogins(1, time.Hour, 8)
	f.Failed("s1", netip.MustParseAddr("2001:db8:1:2::1"))
	if f.Allow("s1", netip.MustParseAddr("2001:db8:1:2:ffff::9")) == nil {
		t.Error("another address of the same /64 was let in")
	}
	if f.Allow("s1", netip.MustParseAddr("2001:db8:1:3::1")) != nil {
		t.Error("another /64 was refused")
	}
	// IPv4-mapped addresses are the IPv4 client.
	f.Failed("s1", netip.MustParseAddr("::ffff:192.0.2.7"))
	if f.Allow("s1", netip.MustParseAddr("192.0.2.7")) == nil {
		t.Error("the IPv4-mapped form escaped the count")
	}
}

func TestHeaderRules(t *testing.T) {
	c, err := Compile([]byte(`{
		"request_headers": {"set": {"x-env": "prod", "Cookie": "a=b"}, "remove": ["cookie", "x-drop"]},
		"response_headers": {"set": {"x-frame-options": "DENY"}, "remove": ["server"]}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	req := http.Header{"Cookie": {"session=1"}, "X-Drop": {"1"}, "X-Keep": {"1"}}
	c.RewriteRequest(req)
	want := http.Header{"Cookie": {"a=b"}, "X-Env": {"prod"}, "X-Keep": {"1"}}
	if !equalHeaders(req, want) {
		t.Errorf("request headers = %v, want %v", req, want)
	}
	if !c.RewritesResponse() {
		t.Fatal("RewritesResponse() = false")
	}
	resp := http.Header{"Server": {"nginx"}, "X-Frame-Options": {"ALLOW"}}
	c.RewriteResponse(resp)
	if !equalHeaders(resp, http.Header{"X-Frame-Options": {"DENY"}}) {
		t.Errorf("response headers = %v", resp)
	}
}

func TestAllowsEmail(t *testing.T) {
	c, _ := Compile([]byte(`{"oauth":{"provider":"google","email_domains":["Example.com"],"emails":["Boss@Partner.org"]}}`))
	rule := c.OAuth()
	if rule == nil || rule.Provider != "google" {
		t.Fatalf("OAuth() = %+v", rule)
	}
	for email, want := range map[string]bool{
		"ann@example.com":      true,
		"ANN@EXAMPLE.COM":      true,
		"boss@partner.org":     true,
		"other@partner.org":    false,
		"ann@sub.example.com":  false,
		"ann@example.com.evil": false,
		"example.com":          false,
		"":                     false,
	} {
		if got := rule.AllowsEmail(email); got != want {
			t.Errorf("AllowsEmail(%q) = %v, want %v", email, got, want)
		}
	}
	anyone, _ := Compile([]byte(`{"oauth":{"provider":"github"}}`))
	if !anyone.OAuth().AllowsEmail("x@y.z") {
		t.Error("an oauth rule without email rules should admit any logged-in visitor")
	}
}

func TestIsIdentityHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Portico-User": true, "x-portico-auth": true, "X-PORTICO-ANYTHING": true,
		"X-Portico": false, "X-Porticos-User": false, "X-User": false,
	} {
		if IsIdentityHeader(name) != want {
			t.Errorf("IsIdentityHeader(%q) = %v", name, !want)
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}
