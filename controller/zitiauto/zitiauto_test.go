package zitiauto

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openziti/sdk-golang/ziti"

	"github.com/porticoproxy/portico/internal/testenv"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// network is the quickstart network that every test of this package shares.
var network *testenv.Ziti

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithZiti(m, "zitiauto", func(_ context.Context, z *testenv.Ziti, _ string) (func(), error) {
		network = z
		return nil, nil
	}))
}

// newClient returns a client of the test network; the CAs come from its well-known endpoint.
func newClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{ManagementURLs: []string{network.CtrlAddress}, Username: network.Username, Password: network.Password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unique returns prefix with a random suffix, so runs and tests never share names.
func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// testContext returns a context that ends with the test, bounded to a minute.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// enrolledIdentity creates an identity with roles, enrolls it, and returns its id and its
// identity file. The identity is deleted when the test ends.
func enrolledIdentity(ctx context.Context, t *testing.T, c *Client, name string, roles ...string) (string, []byte) {
	t.Helper()
	id, jwt, err := c.CreateIdentity(ctx, name, roles, map[string]string{"portico": "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DeleteIdentity(context.Background(), id); err != nil {
			t.Error(err)
		}
	})
	identity, err := zitiident.Enroll(jwt)
	if err != nil {
		t.Fatal(err)
	}
	return id, identity
}

// shareCounts counts a share's objects per collection, by tag and by name. Counting by name too
// makes sure a tag filter that silently matched nothing cannot pass for a deletion.
func shareCounts(ctx context.Context, t *testing.T, c *Client, token string) (byTag, byName map[string]int) {
	t.Helper()
	byTag, byName = map[string]int{}, map[string]int{}
	names := map[string]string{
		"services":                     fmt.Sprintf(`name = "%s"`, token),
		"service-policies":             fmt.Sprintf(`name = "%s-bind" or name = "%s-dial"`, token, token),
		"service-edge-router-policies": fmt.Sprintf(`name = "%s"`, token),
	}
	for _, coll := range shareCollections {
		objs, err := c.shareObjects(ctx, coll, token)
		if err != nil {
			t.Fatalf("listing %s by tag: %v", coll, err)
		}
		byTag[coll] = len(objs)
		objs, err = c.list(ctx, coll, names[coll])
		if err != nil {
			t.Fatalf("listing %s by name: %v", coll, err)
		}
		byName[coll] = len(objs)
	}
	return byTag, byName
}

var (
	fullShare  = map[string]int{"services": 1, "service-policies": 2, "service-edge-router-policies": 1}
	emptyShare = map[string]int{"services": 0, "service-policies": 0, "service-edge-router-policies": 0}
)

func sameCounts(a, b map[string]int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// writeFrame and readFrame carry length-prefixed messages, so neither side waits for EOF
// (which can hang for ~30 s after a Ziti close).
func writeFrame(w io.Writer, p []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(p)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, p)
	return p, err
}

func TestShareLifecycle(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	for range 2 { // idempotent
		if err := c.EnsureBaseline(ctx); err != nil {
			t.Fatal(err)
		}
	}

	envID, envIdentity := enrolledIdentity(ctx, t, c, unique("env-"), RoleEnvironment)
	_, feIdentity := enrolledIdentity(ctx, t, c, unique("fe-"), RoleFrontend)
	host, err := zitiident.NewContextFromJSON(envIdentity)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	dialer, err := zitiident.NewContextFromJSON(feIdentity)
	if err != nil {
		t.Fatal(err)
	}
	defer dialer.Close()
	// Authenticate before the shares exist, so Listen and Dial must find them by refreshing.
	for _, zc := range []interface{ Authenticate() error }{host, dialer} {
		if err := zc.Authenticate(); err != nil {
			t.Fatal(err)
		}
	}

	share, other := unique("sh"), unique("sh")
	svcID, err := c.CreateShareService(ctx, share, []string{"@" + envID}, []string{"#" + RoleFrontend})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateShareService(ctx, other, []string{"@" + envID}, []string{"#" + RoleFrontend}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DeleteShareService(context.Background(), other); err != nil {
			t.Error(err)
		}
	})
	if byTag, byName := shareCounts(ctx, t, c, share); !sameCounts(byTag, fullShare) || !sameCounts(byName, fullShare) {
		t.Fatalf("share objects by tag %v, by name %v; want %v", byTag, byName, fullShare)
	}

	if n, err := c.Terminators(ctx, svcID); err != nil || n != 0 {
		t.Fatalf("terminators before listen = %d, %v; want 0", n, err)
	}
	start := time.Now()
	ln, err := zitiident.Listen(ctx, host, share, "agent-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Logf("listen on a new service took %s", time.Since(start))
	if n, err := c.Terminators(ctx, svcID); err != nil || n != 1 {
		t.Fatalf("terminators after listen = %d, %v; want 1", n, err)
	}
	hosted, err := c.HostedServices(ctx)
	if err != nil || !hosted[svcID]["agent-x"] {
		t.Fatalf("HostedServices = %v, %v; want %s served by agent-x", hosted, err, svcID)
	}
	tokens, err := c.ShareTokens(ctx)
	if err != nil || !tokens[share] || !tokens[other] {
		t.Fatalf("ShareTokens = %v, %v; want %s and %s", tokens, err, share, other)
	}

	served := make(chan error, 1)
	go func() {
		served <- func() error {
			conn, err := ln.Accept()
			if err != nil {
				return err
			}
			defer conn.Close()
			msg, err := readFrame(conn)
			if err != nil {
				return err
			}
			return writeFrame(conn, []byte(strings.ToUpper(string(msg))))
		}()
	}()

	start = time.Now()
	// An agent that bound with a terminator identity is reached by it.
	conn, err := zitiident.DialWithOptions(ctx, dialer, share, &ziti.DialOptions{Identity: "agent-x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Logf("dial of a new service took %s", time.Since(start))
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := writeFrame(conn, []byte("hello portico")); err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "HELLO PORTICO" {
		t.Fatalf("got %q, want %q", got, "HELLO PORTICO")
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	if err := c.DeleteShareService(ctx, share); err != nil {
		t.Fatal(err)
	}
	if byTag, byName := shareCounts(ctx, t, c, share); !sameCounts(byTag, emptyShare) || !sameCounts(byName, emptyShare) {
		t.Fatalf("after delete, share objects by tag %v, by name %v; want none", byTag, byName)
	}
	if byTag, byName := shareCounts(ctx, t, c, other); !sameCounts(byTag, fullShare) || !sameCounts(byName, fullShare) {
		t.Fatalf("after deleting another share, objects by tag %v, by name %v; want %v", byTag, byName, fullShare)
	}
	if n, err := c.Terminators(ctx, svcID); err != nil || n != 0 {
		t.Fatalf("terminators of the deleted service = %d, %v; want 0", n, err)
	}
	if err := c.DeleteShareService(ctx, share); err != nil {
		t.Fatalf("deleting a deleted share: %v", err)
	}
}

func TestDeleteIdentityTwice(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	id, _, err := c.CreateIdentity(ctx, unique("gone-"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second delete meets a 404, which is fine
		if err := c.DeleteIdentity(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// A share whose third object cannot be made leaves nothing behind.
func TestCreateShareServiceRollsBack(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	share := unique("sh")
	// Take the name of the share's Dial policy, so creating that policy fails.
	blocker, err := c.create(ctx, "service-policies", map[string]any{
		"name": share + "-dial", "type": "Dial", "semantic": "AnyOf",
		"serviceRoles": []string{}, "identityRoles": []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.remove(context.Background(), "service-policies", blocker)

	envID, _, err := c.CreateIdentity(ctx, unique("env-"), []string{RoleEnvironment}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteIdentity(context.Background(), envID)

	_, err = c.CreateShareService(ctx, share, []string{"@" + envID}, []string{"#" + RoleFrontend})
	if err == nil {
		t.Fatal("CreateShareService succeeded despite a taken policy name")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"creating dial policy for share", "COULD_NOT_VALIDATE", "name: name must be unique"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if byTag, _ := shareCounts(ctx, t, c, share); !sameCounts(byTag, emptyShare) {
		t.Fatalf("after a failed create, share objects %v; want none", byTag)
	}
}

// A session the controller no longer knows (it expired) is replaced without the caller noticing.
func TestReauthenticatesOnStaleSession(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	if err := c.EnsureBaseline(ctx); err != nil {
		t.Fatal(err)
	}
	m := c.members[0]
	m.token = "stale-session-token"
	if err := c.EnsureBaseline(ctx); err != nil {
		t.Fatal(err)
	}
	if m.token == "stale-session-token" {
		t.Fatal("the stale session was kept")
	}
}

func TestWrongPassword(t *testing.T) {
	c, err := New(Config{ManagementURLs: []string{network.ManagementURL}, Username: network.Username, Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.EnsureBaseline(testContext(t))
	if err == nil {
		t.Fatal("EnsureBaseline succeeded with a wrong password")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"authenticating to ziti at " + network.CtrlAddress + " as \"admin\"", "401", "INVALID_AUTH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestNewManagementURL(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://127.0.0.1:1280", "https://127.0.0.1:1280/edge/management/v1", true},
		{"https://127.0.0.1:1280/", "https://127.0.0.1:1280/edge/management/v1", true},
		{"https://ctrl.example.com:1280/edge/management/v1", "https://ctrl.example.com:1280/edge/management/v1", true},
		{"https://ctrl.example.com/edge/management/v1/", "https://ctrl.example.com/edge/management/v1", true},
		{"http://127.0.0.1:1280", "", false},
		{"127.0.0.1:1280", "", false},
		{"https://127.0.0.1:1280/edge/client/v1", "", false},
	}
	for _, tt := range tests {
		c, err := New(Config{ManagementURLs: []string{tt.in}, Username: "admin"})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q): err = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if err == nil && c.members[0].base != tt.want {
			t.Errorf("New(%q): base %q, want %q", tt.in, c.members[0].base, tt.want)
		}
	}
}

// TestDeploymentsKeepToTheirOwn: two deployments on one network each list
// only the shares they made, so neither takes the other's for orphans.
func TestDeploymentsKeepToTheirOwn(t *testing.T) {
	ctx := testContext(t)
	var clients [2]*Client
	var shares [2]string
	envID, _, err := newClient(t).CreateIdentity(ctx, unique("env-"), []string{RoleEnvironment}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer newClient(t).DeleteIdentity(context.Background(), envID)
	for i := range clients {
		c, err := New(Config{ManagementURLs: []string{network.CtrlAddress}, Username: network.Username, Password: network.Password, Deployment: unique("dep")})
		if err != nil {
			t.Fatal(err)
		}
		clients[i], shares[i] = c, unique("sh")
		if _, err := c.CreateShareService(ctx, shares[i], []string{"@" + envID}, []string{"#" + RoleFrontend}); err != nil {
			t.Fatal(err)
		}
		defer c.DeleteShareService(context.Background(), shares[i])
	}
	for i, c := range clients {
		tokens, err := c.ShareTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !tokens[shares[i]] || tokens[shares[1-i]] {
			t.Errorf("deployment %d lists %v; want its own %s and not %s", i, tokens, shares[i], shares[1-i])
		}
	}
	if _, err := New(Config{ManagementURLs: []string{network.CtrlAddress}, Username: "admin", Deployment: `x" or true`}); err == nil {
		t.Error("a deployment id that would break out of a filter was accepted")
	}
}

// TestShareDialRoles: a private share's Dial policy names its accessors, and
// an identity dials the share only while the policy names it.
func TestShareDialRoles(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	if err := c.EnsureBaseline(ctx); err != nil {
		t.Fatal(err)
	}
	envID, envIdentity := enrolledIdentity(ctx, t, c, unique("env-"), RoleEnvironment)
	accID, accIdentity := enrolledIdentity(ctx, t, c, unique("acc-"), RoleEnvironment)
	host, err := zitiident.NewContextFromJSON(envIdentity)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	accessor, err := zitiident.NewContextFromJSON(accIdentity)
	if err != nil {
		t.Fatal(err)
	}
	defer accessor.Close()

	share := unique("sh")
	if _, err := c.CreateShareService(ctx, share, []string{"@" + envID}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteShareService(context.Background(), share) })
	if roles, err := c.ShareDialRoles(ctx, share); err != nil || len(roles) != 0 {
		t.Fatalf("dial roles of a new private share = %v, %v; want none", roles, err)
	}
	ln, err := zitiident.Listen(ctx, host, share, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if msg, err := readFrame(conn); err == nil {
					writeFrame(conn, msg)
				}
			}()
		}
	}()
	dial := func(zc ziti.Context) error {
		conn, err := zitiident.Dial(ctx, zc, share, nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := writeFrame(conn, []byte("ping")); err != nil {
			return err
		}
		_, err = readFrame(conn)
		return err
	}
	if err := dial(accessor); err == nil {
		t.Fatal("an identity the dial policy does not name dialed the share")
	}

	if err := c.SetShareDialRoles(ctx, share, IdentityRoles([]string{accID})); err != nil {
		t.Fatal(err)
	}
	if roles, err := c.ShareDialRoles(ctx, share); err != nil || fmt.Sprint(roles) != "[@"+accID+"]" {
		t.Fatalf("dial roles = %v, %v; want [@%s]", roles, err, accID)
	}
	if err := dial(accessor); err != nil {
		t.Fatalf("dialing once named: %v", err)
	}
	if byTag, _ := shareCounts(ctx, t, c, share); !sameCounts(byTag, fullShare) {
		t.Fatalf("setting the dial roles changed the share's objects: %v", byTag)
	}

	if err := c.SetShareDialRoles(ctx, share, nil); err != nil {
		t.Fatal(err)
	}
	if roles, err := c.ShareDialRoles(ctx, share); err != nil || len(roles) != 0 {
		t.Fatalf("dial roles after removing all = %v, %v", roles, err)
	}
	// A context made now no longer sees the service. (A context that dialed
	// before keeps the service it cached for up to a minute.)
	later, err := zitiident.NewContextFromJSON(accIdentity)
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if err := dial(later); err == nil {
		t.Fatal("an identity no longer named dialed the share")
	}

	if err := c.SetShareDialRoles(ctx, unique("nosuchshare"), nil); err == nil || !strings.Contains(err.Error(), "0 dial policies") {
		t.Errorf("setting the dial roles of an unknown share: %v", err)
	}
}
