package e2e

import (
	"context"
	"encoding/json"
	"net/http"
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
