package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/apiclient"
)

// TestReaperRemovesSharesOfCrashedAgents: an agent killed without deleting its
// share leaves it behind; the reaper removes it once no agent has served it
// for reap_after (8 s here).
func TestReaperRemovesSharesOfCrashedAgents(t *testing.T) {
	acct, home := account(t, "crash")
	ag := startAgent(t, home, newBackend(t).URL)
	wantWithin(t, 5*time.Second, "the route to appear", wantStatus(ag.host, http.StatusOK))
	// A live agent's share is kept longer than reap_after.
	time.Sleep(9 * time.Second)
	if err := wantStatus(ag.host, http.StatusOK)(); err != nil {
		t.Fatalf("the reaper touched a live share: %v", err)
	}
	ag.cmd.Process.Kill()
	<-ag.done
	wantWithin(t, 20*time.Second, "the reaper to remove the abandoned share", func() error {
		shares, err := apiclient.New(stack.apiURL, acct.Token).Shares(context.Background())
		if err != nil {
			return err
		}
		if len(shares) != 0 {
			return fmt.Errorf("%d shares left", len(shares))
		}
		return nil
	})
	wantWithin(t, 2*time.Second, "its host to answer 404", wantStatus(ag.host, http.StatusNotFound))
}

// TestReconcilerRepairsTheOverlay: a share whose overlay objects vanished
// gets them back, and objects tagged with a share the store does not know go.
func TestReconcilerRepairsTheOverlay(t *testing.T) {
	ctx := context.Background()
	// Act as the same deployment as the controller, whose objects it reconciles.
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(stack.dir, "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	deployment, err := st.DeploymentID(ctx, "unused")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	zc, err := zitiauto.New(zitiauto.Config{ManagementURLs: []string{stack.ziti.CtrlAddress}, Username: stack.ziti.Username, Password: stack.ziti.Password, Deployment: deployment})
	if err != nil {
		t.Fatal(err)
	}
	_, home := account(t, "drift")
	ag := startAgent(t, home, newBackend(t).URL)
	defer ag.stop(t)
	wantWithin(t, 5*time.Second, "the route to appear", wantStatus(ag.host, http.StatusOK))

	// Someone removes the share's objects behind the controller's back.
	if err := zc.DeleteShareService(ctx, ag.token); err != nil {
		t.Fatal(err)
	}
	// And leaves objects of a share that does not exist.
	id, _, err := zc.CreateIdentity(ctx, fmt.Sprint("stray-", time.Now().UnixNano()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zc.DeleteIdentity(ctx, id)
	orphan := fmt.Sprint("orphan", time.Now().UnixNano()%1e6)
	if _, err := zc.CreateShareService(ctx, orphan, []string{"@" + id}, []string{"#" + zitiauto.RoleFrontend}); err != nil {
		t.Fatal(err)
	}
	wantWithin(t, 15*time.Second, "the reconciler to repair both", func() error {
		tokens, err := zc.ShareTokens(ctx)
		if err != nil {
			return err
		}
		if !tokens[ag.token] {
			return fmt.Errorf("share %s not recreated", ag.token)
		}
		if tokens[orphan] {
			return fmt.Errorf("orphan %s still there", orphan)
		}
		// The agent binds the recreated service, so the share serves again.
		return wantStatus(ag.host, http.StatusOK)()
	})
}
