package api

import (
	"github.com/porticoproxy/portico/internal/apitypes"

	"fmt"
	"strings"
	"testing"
)

// privateShare creates a private share as the account tok and returns its token.
func (e *env) privateShare(tok, envID, extra string) string {
	e.t.Helper()
	var sh apitypes.Share
	body := `{"environment_id":"` + envID + `","share_mode":"private","backend_mode":"tcpTunnel","target":"localhost:22"` + extra + `}`
	if code := e.call("POST", "/api/v1/shares", tok, body, &sh); code != 201 {
		e.t.Fatalf("create private share: %d", code)
	}
	return sh.Token
}

// dialRoles is what the share's Dial policy names, as one string.
func (e *env) dialRoles(share string) string {
	e.ziti.mu.Lock()
	defer e.ziti.mu.Unlock()
	return fmt.Sprint(e.ziti.dialRoles[share])
}

func accessBody(envID string) string { return `{"environment_id":"` + envID + `"}` }

// role is the dial role of an environment's identity, as the fake names it.
func role(envID string) string { return "@zid-portico-env-" + envID }

func TestPrivateShareAccesses(t *testing.T) {
	e := newEnv(t)
	alice, aliceEnv := e.setup()
	bob, bobEnv := e.account("b@example.com")
	// A private share has no host, so it needs no namespace named even when
	// there are several; it takes one the account may use.
	if code := e.call("POST", "/api/v1/namespaces", adminToken, `{"name":"closed.example.com","open":false}`, &struct{}{}); code != 201 {
		t.Fatalf("create namespace: %d", code)
	}

	var sh apitypes.Share
	if code := e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","share_mode":"private","backend_mode":"udpTunnel","target":"localhost:53"}`, &sh); code != 201 {
		t.Fatalf("create private share: %d", code)
	}
	if sh.Host != "" || len(sh.FrontendEndpoints) != 0 || sh.Closed || sh.Namespace != "share.example.com" || len(e.pub.changes) != 0 {
		t.Fatalf("private share = %+v, published %+v; want no host, no URL, nothing mapped", sh, e.pub.changes)
	}
	if got := e.dialRoles(sh.Token); got != "[]" {
		t.Fatalf("a new private share's dial roles = %s, want none", got)
	}

	// Two accesses from bob's one environment name its identity once.
	var a1, a2 apitypes.Access
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/accesses", bob, accessBody(bobEnv), &a1); code != 201 {
		t.Fatalf("access: %d", code)
	}
	if a1.ID == "" || a1.ShareToken != sh.Token || a1.EnvironmentID != bobEnv || a1.BackendMode != "udpTunnel" {
		t.Fatalf("access = %+v", a1)
	}
	e.call("POST", "/api/v1/shares/"+sh.Token+"/accesses", bob, accessBody(bobEnv), &a2)
	if got, want := e.dialRoles(sh.Token), "["+role(bobEnv)+"]"; got != want {
		t.Fatalf("dial roles = %s, want %s", got, want)
	}
	// The owner may access its own share too.
	var own apitypes.Access
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/accesses", alice, accessBody(aliceEnv), &own); code != 201 {
		t.Fatalf("the owner's access: %d", code)
	}
	if got := e.dialRoles(sh.Token); !strings.Contains(got, role(aliceEnv)) || !strings.Contains(got, role(bobEnv)) {
		t.Fatalf("dial roles = %s, want both environments", got)
	}

	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/accesses/"+a1.ID, alice, "", &apitypes.Error{}); code != 404 {
		t.Errorf("alice removing bob's access: %d, want 404", code)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/accesses/"+a1.ID, bob, "", nil); code != 204 {
		t.Fatalf("remove access: %d", code)
	}
	if got := e.dialRoles(sh.Token); !strings.Contains(got, role(bobEnv)) {
		t.Errorf("dial roles = %s; bob's other access still needs his identity", got)
	}
	// A crashed accessor's environment removes what it left.
	var removed map[string]int
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/accesses?environment_id="+bobEnv, bob, "", &removed); code != 200 || removed["removed"] != 1 {
		t.Fatalf("remove the environment's accesses: %d %v", code, removed)
	}
	if got, want := e.dialRoles(sh.Token), "["+role(aliceEnv)+"]"; got != want {
		t.Errorf("dial roles = %s, want %s", got, want)
	}

	// Deleting the accessor's environment takes its identity off the policy.
	e.call("POST", "/api/v1/shares/"+sh.Token+"/accesses", bob, accessBody(bobEnv), &a1)
	if code := e.call("DELETE", "/api/v1/environments/"+bobEnv, bob, "", nil); code != 204 {
		t.Fatalf("delete environment: %d", code)
	}
	if got, want := e.dialRoles(sh.Token), "["+role(aliceEnv)+"]"; got != want {
		t.Errorf("after the accessor's environment went, dial roles = %s, want %s", got, want)
	}
	// Deleting the share deletes its accesses.
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token, alice, "", nil); code != 204 {
		t.Fatalf("delete share: %d", code)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/accesses/"+own.ID, alice, "", &apitypes.Error{}); code != 404 {
		t.Errorf("an access of a deleted share: %d, want 404", code)
	}
}

func TestClosedShareAdmitsOnlyGrantedAccounts(t *testing.T) {
	e := newEnv(t)
	alice, aliceEnv := e.setup()
	bob, bobEnv := e.account("b@example.com")
	carol, carolEnv := e.account("c@example.com")
	share := e.privateShare(alice, aliceEnv, `,"closed":true`)

	var got apitypes.Error
	if code := e.call("POST", "/api/v1/shares/"+share+"/accesses", bob, accessBody(bobEnv), &got); code != 403 || got.Code != "forbidden" || !strings.Contains(got.Message, "closed") {
		t.Fatalf("access without a grant: %d %+v, want 403", code, got)
	}
	if got := e.dialRoles(share); got != "[]" {
		t.Fatalf("a refused access changed the dial roles: %s", got)
	}
	if code := e.call("POST", "/api/v1/shares/"+share+"/grants", alice, `{"email":"b@example.com"}`, &struct{}{}); code != 201 {
		t.Fatalf("grant: %d", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+share+"/grants", alice, `{"email":"b@example.com"}`, &got); code != 409 {
		t.Errorf("grant twice: %d, want 409", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+share+"/grants", bob, `{"email":"c@example.com"}`, &got); code != 404 {
		t.Errorf("a grantee granting others: %d, want 404", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+share+"/accesses", bob, accessBody(bobEnv), &apitypes.Access{}); code != 201 {
		t.Errorf("access after the grant: %d, want 201", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+share+"/accesses", carol, accessBody(carolEnv), &got); code != 403 {
		t.Errorf("an account without the grant: %d, want 403", code)
	}
	if got, want := e.dialRoles(share), "["+role(bobEnv)+"]"; got != want {
		t.Errorf("dial roles = %s, want %s", got, want)
	}

	// A grant answers alike whether an account has the email or not, so it
	// tells nobody which emails have accounts; it admits the account that
	// is made with the email later.
	known, unknown := map[string]string{}, map[string]string{}
	codeKnown := e.call("POST", "/api/v1/shares/"+share+"/grants", alice, `{"email":"c@example.com"}`, &known)
	codeUnknown := e.call("POST", "/api/v1/shares/"+share+"/grants", alice, `{"email":"Dave@Example.com"}`, &unknown)
	if codeKnown != 201 || codeUnknown != 201 || len(known) != len(unknown) || known["share"] != unknown["share"] {
		t.Errorf("grant to a known email: %d %v; to an unknown one: %d %v; want the same answer", codeKnown, known, codeUnknown, unknown)
	}
	dave, daveEnv := e.account("dave@example.com")
	if code := e.call("POST", "/api/v1/shares/"+share+"/accesses", dave, accessBody(daveEnv), &apitypes.Access{}); code != 201 {
		t.Errorf("access by an account made after its grant: %d, want 201", code)
	}
}

func TestPrivateShareBadInput(t *testing.T) {
	e := newEnv(t)
	alice, aliceEnv := e.setup()
	bob, bobEnv := e.account("b@example.com")
	open := e.privateShare(alice, aliceEnv, "")
	closed := e.privateShare(alice, aliceEnv, `,"closed":true`)
	var public apitypes.Share
	e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","target":"http://localhost:3000"}`, &public)
	accesses := func(share string) string { return "/api/v1/shares/" + share + "/accesses" }
	grants := func(share string) string { return "/api/v1/shares/" + share + "/grants" }

	e.wantErrors([]badRequest{
		{"access: malformed JSON", "POST", accesses(open), bob, `{"environment_id":`, 400, "bad_request", "malformed request body"},
		{"access: unknown field", "POST", accesses(open), bob, `{"environment_id":"` + bobEnv + `","bind":"127.0.0.1:9191"}`, 400, "bad_request", `unknown field "bind"`},
		{"access: no environment", "POST", accesses(open), bob, `{}`, 400, "bad_request", "environment_id is required"},
		{"access: unknown environment", "POST", accesses(open), bob, accessBody("nope"), 404, "not_found", "environment nope"},
		{"access: another account's environment", "POST", accesses(open), bob, accessBody(aliceEnv), 404, "not_found", "environment " + aliceEnv},
		{"access: unknown token", "POST", accesses("nosuchshare"), bob, accessBody(bobEnv), 404, "not_found", "share nosuchshare"},
		{"access: public share", "POST", accesses(public.Token), bob, accessBody(bobEnv), 400, "bad_request", "public shares are reached through the frontends"},
		{"access: closed share without a grant", "POST", accesses(closed), bob, accessBody(bobEnv), 403, "forbidden", "has not been granted it"},
		{"unaccess: unknown access", "DELETE", accesses(open) + "/nope", bob, ``, 404, "not_found", "access nope"},
		{"unaccess: no environment", "DELETE", accesses(open), bob, ``, 400, "bad_request", "environment_id"},
		{"unaccess: nothing to remove", "DELETE", accesses(open) + "?environment_id=" + bobEnv, bob, ``, 404, "not_found", "access of environment " + bobEnv},
		{"grant: malformed JSON", "POST", grants(closed), alice, `{"email"`, 400, "bad_request", "malformed request body"},
		{"grant: no email", "POST", grants(closed), alice, `{}`, 400, "bad_request", "email is required"},
		{"grant: not an email", "POST", grants(closed), alice, `{"email":"bob"}`, 400, "bad_request", `email "bob" is not an email address`},
		{"grant: unknown share", "POST", grants("nosuchshare"), alice, `{"email":"b@example.com"}`, 404, "not_found", "share nosuchshare"},
		{"grant: another account's share", "POST", grants(closed), bob, `{"email":"b@example.com"}`, 404, "not_found", "share " + closed},
		{"grant: public share", "POST", grants(public.Token), alice, `{"email":"b@example.com"}`, 400, "bad_request", "grants are for closed private shares"},
		{"grant: open share", "POST", grants(open), alice, `{"email":"b@example.com"}`, 400, "bad_request", "is open"},
		{"share: closed public share", "POST", "/api/v1/shares", alice, `{"environment_id":"` + aliceEnv + `","target":"http://x","closed":true}`, 400, "bad_request", "closed is for private shares"},
		{"share: closed not a boolean", "POST", "/api/v1/shares", alice, `{"environment_id":"` + aliceEnv + `","share_mode":"private","target":"http://x","closed":"yes"}`, 400, "bad_request", "malformed request body"},
		{"share: udpTunnel target not host:port", "POST", "/api/v1/shares", alice, `{"environment_id":"` + aliceEnv + `","share_mode":"private","backend_mode":"udpTunnel","target":"localhost"}`, 400, "bad_request", "not a host:port"},
	})
	// None of it let anyone dial.
	for _, share := range []string{open, closed} {
		if got := e.dialRoles(share); got != "[]" {
			t.Errorf("bad input changed the dial roles of %s: %s", share, got)
		}
	}
}
