package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/testenv"
)

// BenchmarkShareCreation is creating a public share through the API, the
// controller's OpenZiti automation included (a service and its policies),
// on a single quickstart and on a three-voter cluster, the controller
// configured with the leader's address or a follower's (from which it
// learns the leader and moves its calls there). It reports p50 and p99 of
// the calls.
//
//	go test -run '^$' -bench ShareCreation -benchtime 100x ./bench/
func BenchmarkShareCreation(b *testing.B) {
	for _, tc := range []struct {
		name    string
		members int
		leader  bool
	}{
		{"quickstart", 1, true},
		{"cluster/leader", 3, true},
		{"cluster/follower", 3, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			var url string
			if tc.members == 1 {
				z, err := testenv.StartZiti(ctx, filepath.Join(dir, "ziti"), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(z.Stop)
				url = z.CtrlAddress
			} else {
				zc, err := testenv.StartZitiCluster(ctx, filepath.Join(dir, "ziti"), tc.members)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(zc.Stop)
				leader, err := zc.Leader(ctx)
				if err != nil {
					b.Fatal(err)
				}
				url = leader.CtrlAddress
				if !tc.leader {
					url = zc.Members[(slices.Index(zc.Members, leader)+1)%len(zc.Members)].CtrlAddress
				}
			}
			user := shareCreator(b, dir, url)
			env, err := user.CreateEnvironment(ctx, "bench", "bench")
			if err != nil {
				b.Fatal(err)
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				began := time.Now()
				if _, err := user.CreateShare(ctx, apitypes.ShareRequest{EnvironmentID: env.ID, Target: "http://localhost:1"}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(began))
			}
			b.StopTimer()
			slices.Sort(took)
			ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / 1e6 }
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}

// shareCreator starts a controller on SQLite that drives the OpenZiti
// network at managementURL and returns an account's client.
func shareCreator(b *testing.B, dir, managementURL string) *apiclient.Client {
	b.Helper()
	ctx := context.Background()
	ctrl, err := controller.New(ctx, controller.Config{
		API: "127.0.0.1:0", GRPC: "127.0.0.1:0", AdminToken: adminToken,
		Store:   "sqlite:" + filepath.Join(dir, "portico.db"),
		Ziti:    controller.ZitiConfig{ManagementURL: managementURL, Username: "admin", Password: "admin"},
		Workers: controller.WorkersConfig{ReapAfter: time.Hour, ReconcileEvery: time.Hour},
	}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctrl.Serve() }()
	b.Cleanup(func() { ctrl.Close(); <-done })
	api := "http://" + ctrl.APIAddr()
	admin := apiclient.New(api, adminToken)
	if _, err := admin.CreateNamespace(ctx, "bench.localhost", true); err != nil {
		b.Fatal(err)
	}
	acct, err := admin.CreateAccount(ctx, fmt.Sprintf("bench-%d@bench.localhost", os.Getpid()))
	if err != nil {
		b.Fatal(err)
	}
	return apiclient.New(api, acct.Token)
}
