package api

import (
	"github.com/porticoproxy/portico/internal/apitypes"

	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/porticoproxy/portico/internal/mapping"
)

func TestReservedNames(t *testing.T) {
	e := newEnv(t)
	alice, aliceEnv := e.setup()
	bob, bobEnv := e.account("b@example.com")

	var sh apitypes.Share
	if code := e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","reserved":true,"name":"MyApp"}`, &sh); code != 201 {
		t.Fatalf("reserve: %d %+v", code, sh)
	}
	if !sh.Reserved || sh.Name != "myapp" || sh.Host != "myapp.share.example.com" || sh.FrontendEndpoints[0] != "https://myapp.share.example.com" {
		t.Fatalf("reserved share = %+v", sh)
	}
	if len(e.pub.changes) != 1 || e.pub.changes[0].Name != "myapp.share.example.com" || e.pub.changes[0].Share != sh.Token {
		t.Fatalf("reserving published %+v, want the name mapped", e.pub.changes)
	}

	var got apitypes.Error
	if code := e.call("POST", "/api/v1/shares", bob, `{"environment_id":"`+bobEnv+`","reserved":true,"name":"myapp"}`, &got); code != 409 || got.Code != "conflict" || !strings.Contains(got.Message, "myapp.share.example.com") {
		t.Errorf("taken name: %d %+v, want 409 naming the host", code, got)
	}
	if len(e.ziti.services) != 1 {
		t.Errorf("a refused reservation left its service: %v", e.ziti.services)
	}

	// Agents join and leave; each change remaps the name with its agents.
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/agents", alice, `{"id":"agent-1","target":"http://localhost:3000"}`, nil); code != 204 {
		t.Fatalf("add agent: %d", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/agents", alice, `{"id":"agent-1","target":"http://localhost:3000"}`, &got); code != 409 {
		t.Errorf("same agent twice: %d, want 409", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/agents", alice, `{"id":"Agent 2"}`, &got); code != 400 {
		t.Errorf("bad agent id: %d, want 400", code)
	}
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/agents", bob, `{"id":"agent-9"}`, &got); code != 404 {
		t.Errorf("bob adds an agent to alice's share: %d, want 404", code)
	}
	last := e.pub.changes[len(e.pub.changes)-1]
	if last.Op != mapping.Upsert || !slices.Equal(last.Agents, []string{"agent-1"}) {
		t.Errorf("adding an agent published %+v, want the mapping with its agent", last)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/agents/agent-1", alice, "", nil); code != 204 {
		t.Fatalf("remove agent: %d", code)
	}
	if last := e.pub.changes[len(e.pub.changes)-1]; last.Op != mapping.Upsert || len(last.Agents) != 0 {
		t.Errorf("removing an agent published %+v, want the mapping without it", last)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/agents/agent-1", alice, "", &got); code != 404 {
		t.Errorf("removing a gone agent: %d, want 404", code)
	}

	// Released, the name waits out its quarantine before another account
	// may take it, so links to it cannot be caught by a stranger at once;
	// its releaser may take it back.
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token, alice, "", nil); code != 204 {
		t.Fatalf("release: %d", code)
	}
	if code := e.call("POST", "/api/v1/shares", bob, `{"environment_id":"`+bobEnv+`","reserved":true,"name":"myapp"}`, &got); code != 409 || !strings.Contains(got.Message, "released recently; another account may reserve it from") {
		t.Errorf("another account takes a just released name: %d %+v, want 409", code, got)
	}
	if code := e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","reserved":true,"name":"myapp"}`, &sh); code != 201 {
		t.Fatalf("its releaser takes the name back: %d", code)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token, alice, "", nil); code != 204 {
		t.Fatalf("release: %d", code)
	}
	e.st.SetNameQuarantine(time.Millisecond)
	time.Sleep(5 * time.Millisecond) // the quarantine is a duration; this one is over
	if code := e.call("POST", "/api/v1/shares", bob, `{"environment_id":"`+bobEnv+`","reserved":true,"name":"myapp"}`, &sh); code != 201 {
		t.Errorf("another account after the quarantine: %d, want 201", code)
	}
}

func TestClosedNamespaceNeedsAGrant(t *testing.T) {
	e := newEnv(t)
	alice, aliceEnv := e.setup()
	if code := e.call("POST", "/api/v1/namespaces", adminToken, `{"name":"team.example.com","open":false}`, &struct{}{}); code != 201 {
		t.Fatalf("create closed namespace: %d", code)
	}
	body := `{"environment_id":"` + aliceEnv + `","target":"http://localhost:3000","namespace":"team.example.com"}`
	anywhere := `{"environment_id":"` + aliceEnv + `","target":"http://localhost:3000"}`
	var sh apitypes.Share
	if code := e.call("POST", "/api/v1/shares", alice, anywhere, &sh); code != 201 || sh.Namespace != "share.example.com" {
		t.Errorf("no namespace named, one usable: %d %q, want the open namespace", code, sh.Namespace)
	}
	var got apitypes.Error
	if code := e.call("POST", "/api/v1/shares", alice, body, &got); code != 403 || !strings.Contains(got.Message, "closed") {
		t.Fatalf("share in a closed namespace: %d %+v, want 403", code, got)
	}
	if code := e.call("POST", "/api/v1/namespaces/team.example.com/grants", adminToken, `{"email":"a@example.com"}`, &struct{}{}); code != 201 {
		t.Fatalf("grant: %d", code)
	}
	if code := e.call("POST", "/api/v1/namespaces/team.example.com/grants", adminToken, `{"email":"a@example.com"}`, &got); code != 409 {
		t.Errorf("grant twice: %d, want 409", code)
	}
	if code := e.call("POST", "/api/v1/shares", alice, body, &apitypes.Share{}); code != 201 {
		t.Errorf("share after the grant: %d, want 201", code)
	}
	if code := e.call("POST", "/api/v1/shares", alice, anywhere, &got); code != 400 || !strings.Contains(got.Message, "you may use share.example.com, team.example.com") {
		t.Errorf("no namespace named, two usable: %d %+v", code, got)
	}
	bob, bobEnv := e.account("b@example.com")
	if code := e.call("POST", "/api/v1/shares", bob, `{"environment_id":"`+bobEnv+`","target":"http://x","namespace":"team.example.com"}`, &got); code != 403 {
		t.Errorf("an account without the grant: %d, want 403", code)
	}
}

// fakeResolver answers TXT lookups from a map of fully qualified names (a
// name without the final dot would be tried under the search domains); a
// missing name is NXDOMAIN.
type fakeResolver map[string][]string

func (f fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := f[name]; ok {
		return txt, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestCustomDomainIsMappedOnlyOnceVerified(t *testing.T) {
	dns := fakeResolver{}
	e := newEnv(t, func(c *options) { c.Resolver = dns })
	alice, aliceEnv := e.setup()
	bob, bobEnv := e.account("b@example.com")
	var sh, eph, bobSh apitypes.Share
	e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","reserved":true,"name":"app"}`, &sh)
	e.call("POST", "/api/v1/shares", alice, `{"environment_id":"`+aliceEnv+`","target":"http://x"}`, &eph)
	e.call("POST", "/api/v1/shares", bob, `{"environment_id":"`+bobEnv+`","reserved":true,"name":"bobs"}`, &bobSh)
	published := len(e.pub.changes)

	var got apitypes.Error
	for _, c := range []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"not a domain", "/api/v1/shares/" + sh.Token + "/domains", `{"domain":"localhost"}`, 400, "not a fully qualified domain name"},
		{"bad characters", "/api/v1/shares/" + sh.Token + "/domains", `{"domain":"a_b.example.org"}`, 400, "not a fully qualified domain name"},
		{"inside a namespace", "/api/v1/shares/" + sh.Token + "/domains", `{"domain":"x.share.example.com"}`, 403, "inside namespace"},
		{"ephemeral share", "/api/v1/shares/" + eph.Token + "/domains", `{"domain":"app.example.org"}`, 400, "reserved shares"},
		{"malformed", "/api/v1/shares/" + sh.Token + "/domains", `{"domain":`, 400, "malformed"},
	} {
		if code := e.call("POST", c.path, alice, c.body, &got); code != c.status || !strings.Contains(got.Message, c.message) {
			t.Errorf("%s: %d %+v, want %d with %q", c.name, code, got, c.status, c.message)
		}
	}

	var d apitypes.Domain
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/domains", alice, `{"domain":"App.Example.org."}`, &d); code != 201 {
		t.Fatalf("add domain: %d", code)
	}
	if d.Name != "app.example.org" || d.Verified || d.TXTName != "_portico-challenge.app.example.org" || !strings.HasPrefix(d.TXTValue, "portico-verify=") {
		t.Fatalf("domain = %+v", d)
	}
	if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/domains", alice, `{"domain":"app.example.org"}`, &got); code != 409 {
		t.Errorf("same domain twice: %d, want 409", code)
	}
	// Bob may claim it too; whoever proves control first gets it.
	var bobD apitypes.Domain
	if code := e.call("POST", "/api/v1/shares/"+bobSh.Token+"/domains", bob, `{"domain":"app.example.org"}`, &bobD); code != 201 {
		t.Fatalf("bob claims the domain: %d", code)
	}

	verify := "/api/v1/shares/" + sh.Token + "/domains/app.example.org/verify"
	if code := e.call("POST", verify, alice, "", &got); code != 422 || !strings.Contains(got.Message, "no TXT record at _portico-challenge.app.example.org") {
		t.Errorf("verify without a record: %d %+v", code, got)
	}
	dns["_portico-challenge.app.example.org."] = []string{"something else"}
	if code := e.call("POST", verify, alice, "", &got); code != 422 || !strings.Contains(got.Message, `holds "something else"`) {
		t.Errorf("verify with a wrong record: %d %+v", code, got)
	}
	if len(e.pub.changes) != published {
		t.Fatalf("an unverified domain was published: %+v", e.pub.changes[published:])
	}

	dns["_portico-challenge.app.example.org."] = []string{"something else", d.TXTValue}
	if code := e.call("POST", verify, alice, "", &d); code != 200 || !d.Verified {
		t.Fatalf("verify: %d %+v", code, d)
	}
	last := e.pub.changes[len(e.pub.changes)-1]
	if last.Name != "app.example.org" || last.Share != sh.Token || last.Op != mapping.Upsert {
		t.Errorf("verifying published %+v, want app.example.org mapped to %s", last, sh.Token)
	}
	// A namespace made around an unverified claim is allowed (a claim
	// cannot block the admin); the claim can then no longer be verified.
	var claim apitypes.Domain
	if code := e.call("POST", "/api/v1/shares/"+bobSh.Token+"/domains", bob, `{"domain":"www.bob.example.net"}`, &claim); code != 201 {
		t.Fatalf("bob claims www.bob.example.net: %d", code)
	}
	if code := e.call("POST", "/api/v1/namespaces", adminToken, `{"name":"bob.example.net"}`, &got); code != 201 {
		t.Fatalf("a namespace around an unverified claim: %d %+v", code, got)
	}
	dns["_portico-challenge.www.bob.example.net."] = []string{claim.TXTValue}
	if code := e.call("POST", "/api/v1/shares/"+bobSh.Token+"/domains/www.bob.example.net/verify", bob, "", &got); code != 403 || !strings.Contains(got.Message, "inside namespace bob.example.net") {
		t.Errorf("verifying a claim a namespace now holds: %d %+v, want 403", code, got)
	}
	// Bob's record cannot take it over.
	dns["_portico-challenge.app.example.org."] = append(dns["_portico-challenge.app.example.org."], bobD.TXTValue)
	if code := e.call("POST", "/api/v1/shares/"+bobSh.Token+"/domains/app.example.org/verify", bob, "", &got); code != 409 {
		t.Errorf("bob verifies a domain alice holds: %d %+v, want 409", code, got)
	}

	// A namespace made later may not take in the domain.
	for _, ns := range []string{"example.org", "app.example.org"} {
		if code := e.call("POST", "/api/v1/namespaces", adminToken, `{"name":"`+ns+`"}`, &got); code != 409 || !strings.Contains(got.Message, "would hold the custom domain app.example.org") {
			t.Errorf("namespace %s over the domain: %d %+v, want 409", ns, code, got)
		}
	}
	if code := e.call("POST", "/api/v1/namespaces", adminToken, `{"name":"other.example.org"}`, &got); code != 201 {
		t.Errorf("a namespace beside the domain: %d %+v, want 201", code, got)
	}
	// An IP address is no domain.
	for _, ip := range []string{"192.0.2.1", "10.0.0.1.", "a.b.123"} {
		if code := e.call("POST", "/api/v1/shares/"+sh.Token+"/domains", alice, `{"domain":"`+ip+`"}`, &got); code != 400 {
			t.Errorf("domain %s: %d %+v, want 400", ip, code, got)
		}
	}

	var list []apitypes.Domain
	if code := e.call("GET", "/api/v1/shares/"+sh.Token+"/domains", alice, "", &list); code != 200 || len(list) != 1 || !list[0].Verified {
		t.Errorf("list domains: %d %+v", code, list)
	}
	if code := e.call("DELETE", "/api/v1/shares/"+sh.Token+"/domains/app.example.org", alice, "", nil); code != 204 {
		t.Fatalf("delete domain: %d", code)
	}
	if last := e.pub.changes[len(e.pub.changes)-1]; last.Name != "app.example.org" || last.Op != mapping.Delete {
		t.Errorf("deleting the domain published %+v, want a tombstone", last)
	}
}
