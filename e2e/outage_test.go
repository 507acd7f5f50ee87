package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/testenv"
)

// While its database is down, a controller answers 503 with a JSON error,
// writes nothing half, and works again once the database is back.
func TestDatabaseOutage(t *testing.T) {
	dsn := testenv.Postgres(t)
	db := testenv.NewProxy(t, "127.0.0.1:5432")
	proxied := strings.Replace(dsn, "127.0.0.1:5432", db.Addr(), 1)
	c := ownController(t, controller.Config{Store: proxied})
	ctx := context.Background()
	api := "http://" + c.APIAddr()
	admin := apiclient.New(api, stack.adminToken)
	acct, err := admin.CreateAccount(ctx, uniqueName("outage")+"@e2e.localhost")
	if err != nil {
		t.Fatal(err)
	}
	user := apiclient.New(api, acct.Token)

	db.Down()
	during := uniqueName("during") + "@e2e.localhost"
	for what, call := range map[string]func() error{
		"create an account":     func() error { _, err := admin.CreateAccount(ctx, during); return err },
		"create an environment": func() error { _, err := user.CreateEnvironment(ctx, "laptop", "host"); return err },
		"list shares":           func() error { _, err := user.Shares(ctx); return err },
	} {
		err := call()
		if !apiclient.IsStatus(err, 503) {
			t.Errorf("%s with the database down: %v, want a 503", what, err)
		}
	}
	db.Up()
	wantWithin(t, 15*time.Second, "the controller to work again", func() error {
		_, err := user.Shares(ctx)
		return err
	})
	// The account refused during the outage was not half-created: it can be created now, once.
	if _, err := admin.CreateAccount(ctx, during); err != nil {
		t.Fatalf("creating the account refused during the outage: %v", err)
	}
	if _, err := admin.CreateAccount(ctx, during); !apiclient.IsStatus(err, 409) {
		t.Fatalf("creating it again: %v, want 409", err)
	}
	if _, err := user.CreateEnvironment(ctx, "laptop", "host"); err != nil {
		t.Fatal(err)
	}
	// Only that environment exists: the one refused during the outage left nothing.
	req, _ := http.NewRequest(http.MethodGet, api+"/api/v1/environments", nil)
	req.Header.Set("Authorization", "Bearer "+acct.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var envs []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&envs); err != nil || len(envs) != 1 {
		t.Fatalf("environments after the outage: %d (%v), want 1", len(envs), err)
	}
}

// A client that opens an API connection and stops halfway through its
// request, or sends nothing, must not keep a stopping controller from
// closing: net/http's Shutdown waits for such connections (a silent one for
// 5 s, as long as the controller's grace period; a half-sent request until
// its header timeout).
func TestControllerClosesDespiteStalledConnections(t *testing.T) {
	c := ownController(t, controller.Config{Store: "sqlite:" + filepath.Join(t.TempDir(), "portico.db")})
	for _, start := range []string{"", "GET /api/v1/version HTTP/1.1\r\nHost: x\r\n"} {
		conn, err := net.Dial("tcp", c.APIAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte(start)); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing tells when the server has read them; without this wait a
	// Close that came first would refuse them and prove nothing.
	time.Sleep(500 * time.Millisecond)
	began := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Close took %s", d)
	}
}
