package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/porticoproxy/portico/internal/testenv"
)

// cli runs a portico command to its end and returns what it printed.
func cli(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(stack.portico, append(args, "--home", home)...).CombinedOutput()
	return string(out), err
}

func mustCLI(t *testing.T, home string, args ...string) string {
	t.Helper()
	out, err := cli(t, home, args...)
	if err != nil {
		t.Fatalf("portico %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// uniqueName is a DNS label no other test run uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

func TestReservedNameSurvivesAgentRestart(t *testing.T) {
	_, home := account(t, "reserver")
	backend := newBackend(t)
	name := uniqueName("app")
	host := name + "." + namespace

	out := mustCLI(t, home, "reserve", name)
	if !strings.Contains(out, "Public URL: http://"+host+":") {
		t.Fatalf("reserve printed no URL for %s:\n%s", host, out)
	}
	// With no agent yet, the name is mapped but offline.
	wantWithin(t, 5*time.Second, "an unserved reserved name to say it is offline", func() error {
		code, body, err := get(host, "/")
		if err == nil && (code != 502 || !strings.Contains(body, "offline")) {
			err = fmt.Errorf("%d %q, want 502 offline", code, body)
		}
		return err
	})

	ag := startCLIAgent(t, home, "share", "reserved", name, backend.URL)
	if ag.host != host {
		t.Fatalf("agent serves %s, want %s", ag.host, host)
	}
	wantWithin(t, 10*time.Second, "the reserved name to answer", wantStatus(host, 200))
	postEcho(t, host)

	// A crash (no chance to leave), then a restart: the same name comes back.
	ag.cmd.Process.Kill()
	<-ag.done
	again := startCLIAgent(t, home, "share", "reserved", name, backend.URL)
	if again.host != host {
		t.Fatalf("after a crash the agent serves %s, want %s", again.host, host)
	}
	wantWithin(t, 10*time.Second, "the name to answer after the restart", wantStatus(host, 200))
	for i := range 20 { // the crashed agent must not swallow any request
		if code, body, err := get(host, "/"); err != nil || code != 200 {
			t.Fatalf("request %d after the restart: %d %q %v", i, code, body, err)
		}
	}

	// A clean stop leaves the name reserved and listed.
	again.stop(t)
	wantWithin(t, 5*time.Second, "a stopped agent's reserved name to say offline", wantStatus(host, 502))
	if ls := mustCLI(t, home, "ls"); !regexp.MustCompile(name + `\s+public\s+true`).MatchString(ls) {
		t.Errorf("ls does not list the reserved name:\n%s", ls)
	}

	// Released, it is gone and free.
	if out := mustCLI(t, home, "release", name); !strings.Contains(out, "Released "+host) {
		t.Errorf("release printed %q", out)
	}
	wantWithin(t, 2*time.Second, "a released name to be 404", wantStatus(host, 404))
	if out, err := cli(t, home, "share", "reserved", name, backend.URL); err == nil || !strings.Contains(out, "no share named") {
		t.Errorf("serving a released name: %v\n%s", err, out)
	}
}

func TestReservedNameBadInput(t *testing.T) {
	_, home := account(t, "badreserver")
	_, other := account(t, "otherreserver")
	name := uniqueName("taken")
	mustCLI(t, home, "reserve", name)
	for _, tt := range []struct {
		home string
		args []string
		want string
	}{
		{home, []string{"reserve", "Not_A_Label"}, "not a DNS label"},
		{home, []string{"reserve", "a.b"}, "not a DNS label"},
		{other, []string{"reserve", name}, "409"},
		{home, []string{"reserve", "x" + name, "--namespace", "nope.localhost"}, "namespace nope.localhost"},
		{home, []string{"reserve", "y" + name, "--basic-auth", "nocolon"}, "want user:password"},
		{home, []string{"reserve", "y" + name, "--deny-ip", "10.0.0.300/8"}, "10.0.0.300/8"},
		{home, []string{"reserve", "y" + name, "--request-header", "NoColon"}, `want "Name: value"`},
		{home, []string{"reserve", "y" + name, "--oauth-email", "a@b.c"}, "need --oauth-provider"},
		{home, []string{"share", "reserved", name, "localhost:3000"}, "not an http:// or https:// URL"},
		{other, []string{"share", "reserved", name, "http://localhost:3000"}, "no share named"},
		{home, []string{"release", "nosuchname"}, "no share named"},
		{home, []string{"domain", "add", name, "localhost"}, "not a fully qualified domain name"},
		{home, []string{"domain", "add", name, "x." + namespace}, "inside namespace"},
	} {
		out, err := cli(t, tt.home, tt.args...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("portico %s: err %v, want a failure saying %q; got:\n%s", strings.Join(tt.args, " "), err, tt.want, out)
		}
	}
	if ls := mustCLI(t, home, "ls"); strings.Contains(ls, "y"+name) || strings.Contains(ls, "x"+name) {
		t.Errorf("a refused reservation was made:\n%s", ls)
	}
}

func TestCustomDomainServedOnceVerified(t *testing.T) {
	_, home := account(t, "domains")
	backend := newBackend(t)
	name := uniqueName("shop")
	domain := name + ".customer.test"
	mustCLI(t, home, "reserve", name)
	startCLIAgent(t, home, "share", "reserved", name, backend.URL)

	out := mustCLI(t, home, "domain", "add", name, domain)
	m := regexp.MustCompile(`_portico-challenge\.` + regexp.QuoteMeta(domain) + `\. TXT "(portico-verify=[a-z0-9]+)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("domain add printed no TXT record:\n%s", out)
	}
	// Before the record exists, verification fails with what to do, and the
	// domain is not served.
	if out, err := cli(t, home, "domain", "verify", name, domain); err == nil || !strings.Contains(out, "no TXT record at _portico-challenge."+domain) {
		t.Fatalf("verify without a record: %v\n%s", err, out)
	}
	stack.dns.SetTXT("_portico-challenge."+domain, "wrong")
	if out, err := cli(t, home, "domain", "verify", name, domain); err == nil || !strings.Contains(out, `holds "wrong"`) {
		t.Fatalf("verify with a wrong record: %v\n%s", err, out)
	}
	if code, _, _ := get(domain, "/"); code != 404 {
		t.Fatalf("an unverified domain answers %d, want 404", code)
	}

	stack.dns.SetTXT("_portico-challenge."+domain, m[1])
	if out := mustCLI(t, home, "domain", "verify", name, domain); !strings.Contains(out, "Verified "+domain) {
		t.Fatalf("verify printed %q", out)
	}
	wantWithin(t, 2*time.Second, "the verified domain to answer", wantStatus(domain, 200))
	if ls := mustCLI(t, home, "domain", "ls", name); !regexp.MustCompile(regexp.QuoteMeta(domain) + `\s+true`).MatchString(ls) {
		t.Errorf("domain ls:\n%s", ls)
	}

	// Another account cannot take a verified domain, even with its own record.
	_, thief := account(t, "thief")
	thiefName := uniqueName("thief")
	mustCLI(t, thief, "reserve", thiefName)
	if out, err := cli(t, thief, "domain", "add", thiefName, domain); err == nil || !strings.Contains(out, "in use") {
		t.Errorf("claiming a verified domain: %v\n%s", err, out)
	}

	// The frontend obtains its certificate on the first TLS visit.
	f := startTLSFrontend(t, testenv.StartPebble(t), "")
	wantWithin(t, 30*time.Second, "an HTTPS answer for the custom domain", func() error {
		resp, err := f.get(domain)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		if cn := resp.TLS.PeerCertificates[0].DNSNames; len(cn) != 1 || cn[0] != domain {
			return fmt.Errorf("certificate for %v, want %s", cn, domain)
		}
		return nil
	})

	mustCLI(t, home, "domain", "rm", name, domain)
	wantWithin(t, 2*time.Second, "a removed domain to be 404", wantStatus(domain, 404))
}

func TestClosedNamespaceTakesOnlyGrantedAccounts(t *testing.T) {
	acct, home := account(t, "closedns")
	ns := uniqueName("team") + ".localhost"
	admin := func(args ...string) (string, error) {
		return cli(t, home, append([]string{"admin", "--api", stack.apiURL, "--admin-token", stack.adminToken}, args...)...)
	}
	if out, err := admin("create", "namespace", ns, "--closed"); err != nil || !strings.Contains(out, "(closed)") {
		t.Fatalf("create closed namespace: %v\n%s", err, out)
	}
	name := uniqueName("app")
	if out, err := cli(t, home, "reserve", name, "--namespace", ns); err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "closed") {
		t.Fatalf("reserving in a closed namespace without a grant: %v\n%s", err, out)
	}
	if out, err := admin("grant", ns, "nobody@e2e.localhost"); err == nil || !strings.Contains(out, "404") {
		t.Errorf("granting an unknown account: %v\n%s", err, out)
	}
	if out, err := admin("grant", ns, acct.Email); err != nil {
		t.Fatalf("grant: %v\n%s", err, out)
	}
	if out := mustCLI(t, home, "reserve", name, "--namespace", ns); !strings.Contains(out, "Reserved "+name+"."+ns) {
		t.Errorf("reserving after the grant printed:\n%s", out)
	}
}
