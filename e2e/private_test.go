package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/testenv"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// startPrivateShare runs `portico share private <args>` until it prints the
// share's token.
func startPrivateShare(t *testing.T, home string, args ...string) *agent {
	t.Helper()
	a, tok := startCLI(t, home, "Share token: ", append([]string{"share", "private"}, args...)...)
	a.token = tok
	return a
}

// wantOutput waits for a running portico command to print want.
func wantOutput(t *testing.T, a *agent, want string) {
	t.Helper()
	wantWithin(t, 5*time.Second, "portico to print "+want, func() error {
		if !strings.Contains(a.out.String(), want) {
			return fmt.Errorf("output so far:\n%s", a.out)
		}
		return nil
	})
}

// accessor is a running `portico access private`.
type accessor struct {
	*agent
	share, addr string
}

// startAccessor runs `portico access private <share>` on a free port until
// it prints the address it serves.
func startAccessor(t *testing.T, home, share string) *accessor {
	t.Helper()
	a, line := startCLI(t, home, "Listening on ", "access", "private", share, "--bind", "127.0.0.1:0")
	addr, _, _ := strings.Cut(line, " ")
	return &accessor{agent: a, share: share, addr: addr}
}

// stop ends the accessor and checks that it ended its access.
func (a *accessor) stop(t *testing.T) {
	t.Helper()
	a.agent.stop(t)
	if !strings.Contains(a.out.String(), "Access to share "+a.share+" removed.") {
		t.Fatalf("the accessor did not report ending its access:\n%s", a.out)
	}
}

// dialRoles reads the identity roles of a share's Dial policy on the overlay.
func dialRoles(t *testing.T, share string) []string {
	t.Helper()
	roles, err := readDialRoles(share)
	if err != nil {
		t.Fatal(err)
	}
	return roles
}

func readDialRoles(share string) ([]string, error) {
	zc, err := zitiauto.New(zitiauto.Config{ManagementURLs: []string{stack.ziti.CtrlAddress}, Username: stack.ziti.Username, Password: stack.ziti.Password})
	if err != nil {
		return nil, err
	}
	return zc.ShareDialRoles(context.Background(), share)
}

// overlayDial dials a share with the identity of the environment in home,
// as an accessor would, without registering an access.
func overlayDial(t *testing.T, home, share string) error {
	t.Helper()
	return overlayDialAs(t, filepath.Join(home, "identity.json"), share)
}

// overlayDialAs dials a share's service with the identity in idFile.
func overlayDialAs(t *testing.T, idFile, share string) error {
	t.Helper()
	zc, err := zitiident.NewContext(idFile)
	if err != nil {
		t.Fatal(err)
	}
	defer zc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := zitiident.Dial(ctx, zc, share, nil)
	if err == nil {
		conn.Close()
	}
	return err
}

// getVia sends one request to an accessor's local address.
func getVia(addr, path string) (int, string, error) { return getThrough(addr, addr, path) }

func TestPrivateHTTPShareThroughAnAccessor(t *testing.T) {
	_, aliceHome := account(t, "privalice")
	_, bobHome := account(t, "privbob")
	ag := startPrivateShare(t, aliceHome, newBackend(t).URL)
	defer ag.stop(t)
	wantOutput(t, ag, "Access it with: portico access private "+ag.token)
	if code, body, err := get(ag.token+"."+namespace, "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("a frontend serves the private share: %d %q %v", code, body, err)
	}
	if len(dialRoles(t, ag.token)) != 0 {
		t.Fatalf("a private share without accessors has dial roles %v", dialRoles(t, ag.token))
	}
	if err := overlayDial(t, bobHome, ag.token); err == nil {
		t.Fatal("bob dialed the private share before accessing it")
	}

	acc := startAccessor(t, bobHome, ag.token)
	if roles := dialRoles(t, ag.token); len(roles) != 1 {
		t.Fatalf("dial roles with one accessor = %v", roles)
	}
	for range 20 {
		code, body, err := getVia(acc.addr, "/")
		if err != nil || code != 200 || body != "hello from the backend" {
			t.Fatalf("GET through the accessor = %d %q %v", code, body, err)
		}
	}
	resp, err := http.Post("http://"+acc.addr+"/echo", "text/plain", strings.NewReader("private portico"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "private portico" {
		t.Fatalf("POST through the accessor = %d %q", resp.StatusCode, body)
	}

	acc.stop(t)
	if roles := dialRoles(t, ag.token); len(roles) != 0 {
		t.Fatalf("after the accessor stopped, dial roles = %v; want none", roles)
	}
	if err := overlayDial(t, bobHome, ag.token); err == nil {
		t.Fatal("bob still dials the private share after his access ended")
	}

	// An accessor that crashed leaves its access behind; unaccess ends it.
	crashed := startAccessor(t, bobHome, ag.token)
	crashed.cmd.Process.Kill()
	<-crashed.done
	if roles := dialRoles(t, ag.token); len(roles) != 1 {
		t.Fatalf("a crashed accessor's dial roles = %v", roles)
	}
	if out := mustCLI(t, bobHome, "unaccess", ag.token); !strings.Contains(out, "Ended 1 access(es) to share "+ag.token) {
		t.Errorf("unaccess printed %q", out)
	}
	if roles := dialRoles(t, ag.token); len(roles) != 0 {
		t.Fatalf("after unaccess, dial roles = %v; want none", roles)
	}
}

// echoOverTCP checks that addr carries n bytes to a TCP echo and back, and
// passes half closes on.
func echoOverTCP(t *testing.T, addr string, n int) {
	t.Helper()
	start := time.Now()
	if err := testenv.EchoOverTCP(addr, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes echoed and the stream ended in %s", n, time.Since(start))
}

func TestPrivateTCPTunnel(t *testing.T) {
	_, aliceHome := account(t, "tcpalice")
	_, bobHome := account(t, "tcpbob")
	ag := startPrivateShare(t, aliceHome, testenv.TCPEcho(t), "--backend-mode", "tcpTunnel")
	defer ag.stop(t)
	acc := startAccessor(t, bobHome, ag.token)
	defer acc.stop(t)
	wantOutput(t, acc.agent, "(tcp)")
	for _, n := range []int{1, 1000, 1 << 20} {
		echoOverTCP(t, acc.addr, n)
	}
}

func TestPrivateUDPTunnel(t *testing.T) {
	target, _ := testenv.UDPEcho(t)
	_, aliceHome := account(t, "udpalice")
	_, bobHome := account(t, "udpbob")
	ag := startPrivateShare(t, aliceHome, target, "--backend-mode", "udpTunnel")
	defer ag.stop(t)
	acc := startAccessor(t, bobHome, ag.token)
	defer acc.stop(t)
	wantOutput(t, acc.agent, "(udp)")

	c, err := net.Dial("udp", acc.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<16)
	for i, size := range []int{5, 1, 1400, 8000, 60000} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for the echo of %d bytes: %v", size, err)
		}
		if !bytes.Equal(buf[:n], p) {
			t.Fatalf("sent %d bytes, got %d different ones back", size, n)
		}
	}
}

func TestClosedPrivateShareAdmitsOnlyGrantedAccounts(t *testing.T) {
	_, aliceHome := account(t, "closedalice")
	bob, bobHome := account(t, "closedbob")
	ag := startPrivateShare(t, aliceHome, testenv.TCPEcho(t), "--backend-mode", "tcpTunnel", "--closed")
	defer ag.stop(t)
	wantOutput(t, ag, "admit an account with: portico grant "+ag.token)

	out, err := cli(t, bobHome, "access", "private", ag.token, "--bind", "127.0.0.1:0")
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "closed") {
		t.Fatalf("access to a closed share without a grant: %v\n%s", err, out)
	}
	if roles := dialRoles(t, ag.token); len(roles) != 0 {
		t.Fatalf("a refused access changed the dial roles: %v", roles)
	}

	if out := mustCLI(t, aliceHome, "grant", ag.token, bob.Email); !strings.Contains(out, bob.Email+" may now access share "+ag.token) {
		t.Errorf("grant printed %q", out)
	}
	acc := startAccessor(t, bobHome, ag.token)
	defer acc.stop(t)
	echoOverTCP(t, acc.addr, 1000)
}

// TestReconcilerKeepsAPrivateSharesAccessors: a private share whose overlay
// objects vanished comes back with its accessors' identities, not the
// frontends', and a Dial policy that drifted from them is put right.
func TestReconcilerKeepsAPrivateSharesAccessors(t *testing.T) {
	_, aliceHome := account(t, "driftalice")
	_, bobHome := account(t, "driftbob")
	ag := startPrivateShare(t, aliceHome, testenv.TCPEcho(t), "--backend-mode", "tcpTunnel")
	defer ag.stop(t)
	acc := startAccessor(t, bobHome, ag.token)
	defer acc.stop(t)
	echoOverTCP(t, acc.addr, 1000)
	want := dialRoles(t, ag.token)
	if len(want) != 1 || !strings.HasPrefix(want[0], "@") {
		t.Fatalf("dial roles with one accessor = %v", want)
	}

	zc, err := zitiauto.New(zitiauto.Config{ManagementURLs: []string{stack.ziti.CtrlAddress}, Username: stack.ziti.Username, Password: stack.ziti.Password})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := zc.DeleteShareService(ctx, ag.token); err != nil {
		t.Fatal(err)
	}
	wantWithin(t, 20*time.Second, "the share to come back with its accessor and carry bytes again", func() error {
		roles, err := readDialRoles(ag.token)
		if err != nil {
			return err
		}
		if fmt.Sprint(roles) != fmt.Sprint(want) {
			return fmt.Errorf("dial roles %v, want %v", roles, want)
		}
		return testenv.EchoOverTCP(acc.addr, 1000)
	})

	if err := zc.SetShareDialRoles(ctx, ag.token, []string{"#" + zitiauto.RoleFrontend}); err != nil {
		t.Fatal(err)
	}
	wantWithin(t, 10*time.Second, "the drifted dial roles to be put right", func() error {
		if roles, err := readDialRoles(ag.token); err != nil || fmt.Sprint(roles) != fmt.Sprint(want) {
			return fmt.Errorf("dial roles %v (%v), want %v", roles, err, want)
		}
		return nil
	})
}

func TestPrivateAccessBadInput(t *testing.T) {
	_, home := account(t, "badaccess")
	pub := startAgent(t, home, newBackend(t).URL)
	defer pub.stop(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	priv := startPrivateShare(t, home, testenv.TCPEcho(t), "--backend-mode", "tcpTunnel")
	defer priv.stop(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"access", "private", "nosuchshare", "--bind", "127.0.0.1:0"}, "share nosuchshare: not found (404"},
		{[]string{"access", "private", pub.token, "--bind", "127.0.0.1:0"}, "public shares are reached through the frontends (400"},
		{[]string{"access", "private", priv.token, "--bind", taken.Addr().String()}, "address already in use"},
		{[]string{"grant", priv.token, "nobody@e2e.localhost"}, "is open: any account that knows its token may access it (400"},
		{[]string{"unaccess", priv.token}, "(404"},
		{[]string{"share", "private", "localhost:1", "--backend-mode", "tcpTunnel", "--namespace", "x"}, "unknown flag"},
	} {
		out, err := cli(t, home, tt.args...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("portico %s: err %v, want a failure saying %q; got:\n%s", strings.Join(tt.args, " "), err, tt.want, out)
		}
	}
	// The access that could not listen was ended again.
	if roles := dialRoles(t, priv.token); len(roles) != 0 {
		t.Errorf("a failed access left dial roles %v", roles)
	}
}

// A peer of a private share may send X-Portico-* headers of its own; the
// agent strips them, as frontends do for public shares, so a service that is
// also shared publicly with a login can trust them. So does the Caddy that
// caddy and web mode shares run.
func TestPrivateShareStripsIdentityHeaders(t *testing.T) {
	_, owner := account(t, "strip-owner")
	backend := headerBackend(t).URL
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte("http:// {\n\treverse_proxy "+backend+"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, peer := account(t, "strip-peer")
	for mode, args := range map[string][]string{
		"proxy": {backend},
		"caddy": {caddyfile, "--backend-mode", "caddy"},
	} {
		t.Run(mode, func(t *testing.T) {
			share := startPrivateShare(t, owner, args...)
			acc := startAccessor(t, peer, share.token)
			req, _ := http.NewRequest(http.MethodGet, "http://"+acc.addr+"/", nil)
			req.Header.Set("X-Portico-User", "admin@example.com")
			req.Header.Set("x-portico-auth", "oauth")
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var seen http.Header
			if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil || resp.StatusCode != 200 {
				t.Fatalf("through the accessor: %d, %v", resp.StatusCode, err)
			}
			for _, h := range []string{"X-Portico-User", "X-Portico-Auth"} {
				if v := seen.Get(h); v != "" {
					t.Errorf("the service saw %s: %q from the peer", h, v)
				}
			}
		})
	}
}
