package bench

// controlplane.go measures how fast a change of shares reaches every
// frontend (propagation) and how long the API takes to make it.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/policy"
)

// PropagationFigure is how long a share's creation (or deletion) takes to
// show on every frontend instance.
type PropagationFigure struct {
	// Mode is "watch" (the embedded default: SQLite, gRPC Watch streams) or
	// "amqp" (cluster mode: PostgreSQL, RabbitMQ).
	Mode      string `json:"mode"`
	Op        string `json:"op"`
	Shares    int    `json:"shares"`
	Frontends int    `json:"frontends"`
	// P50, P99 and Max run from the start of the API call until the last
	// frontend answers for the share's host as it should.
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// FanoutP50 and FanoutP99 run from the API call's return instead: the
	// fan-out alone, 0 when every frontend had it before the call returned.
	FanoutP50 float64 `json:"fanout_p50_ms"`
	FanoutP99 float64 `json:"fanout_p99_ms"`
	// Each figure above is the median over the rounds of that round's
	// figure; RunsP50 and RunsP99 are the rounds' own.
	RunsP50 []float64 `json:"runs_p50_ms"`
	RunsP99 []float64 `json:"runs_p99_ms"`
}

// ControlPlaneFigure is the latency of one API call, made by Clients at once.
type ControlPlaneFigure struct {
	// Store is "sqlite" (the embedded default) or "postgres" (cluster mode).
	Store   string  `json:"store"`
	Op      string  `json:"op"`
	Clients int     `json:"clients"`
	Calls   int     `json:"calls"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	// As in PropagationFigure: medians over the rounds, and the rounds' own.
	RunsP50 []float64 `json:"runs_p50_ms"`
	RunsP99 []float64 `json:"runs_p99_ms"`
}

// deniedToLoopback is the benchmark shares' policy. A frontend that has a
// share's mapping answers its host with 403 at once, before any dial over
// the overlay, and one that has not with 404: the status says exactly
// whether the mapping has arrived.
var deniedToLoopback = &policy.Policy{IPDeny: []string{"127.0.0.0/8"}}

func (d *deployment) shareRequest() apitypes.ShareRequest {
	return apitypes.ShareRequest{EnvironmentID: d.envID, Target: "http://127.0.0.1:9", Namespace: d.namespace, Policy: deniedToLoopback}
}

// benchPropagation creates n shares one after another, each time waiting
// until every frontend serves it, then deletes them the same way. It also
// returns the API calls' own latencies, which are the serial control-plane
// figures.
func (h *harness) benchPropagation(ctx context.Context, d *deployment, mode, storeName string, n int) ([]PropagationFigure, []ControlPlaneFigure, error) {
	clients := make([]path, len(d.fronts))
	for i, f := range d.fronts {
		clients[i] = path{name: f.Name, addr: f.httpAddr}
	}
	var (
		shares        = make([]apitypes.Share, 0, n)
		total, fanout [2][]time.Duration // create, delete
		call          [2][]time.Duration
	)
	measure := func(op int, do func() (string, error), want int) error {
		t0 := time.Now()
		host, err := do()
		returned := time.Now()
		if err != nil {
			return err
		}
		done, err := waitAll(ctx, clients, host, want)
		if err != nil {
			return err
		}
		total[op] = append(total[op], done.Sub(t0))
		fanout[op] = append(fanout[op], max(done.Sub(returned), 0))
		call[op] = append(call[op], returned.Sub(t0))
		return nil
	}
	for range n {
		if err := measure(0, func() (string, error) {
			sh, err := d.user.CreateShare(ctx, d.shareRequest())
			shares = append(shares, sh)
			return sh.Host, err
		}, http.StatusForbidden); err != nil {
			return nil, nil, fmt.Errorf("propagating a create (%s): %w", mode, err)
		}
	}
	for _, sh := range shares {
		if err := measure(1, func() (string, error) {
			return sh.Host, d.user.DeleteShare(ctx, sh.Token)
		}, http.StatusNotFound); err != nil {
			return nil, nil, fmt.Errorf("propagating a delete (%s): %w", mode, err)
		}
	}
	var props []PropagationFigure
	var cps []ControlPlaneFigure
	for op, name := range []string{"create", "delete"} {
		p := PropagationFigure{Mode: mode, Op: name, Shares: n, Frontends: len(d.fronts)}
		p.P50, p.P99, p.Max = latencies(total[op])
		p.FanoutP50, p.FanoutP99, _ = latencies(fanout[op])
		props = append(props, p)
		h.logf("propagation %-5s %-6s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (fan-out after the call: p50 %6.2f ms, p99 %6.2f ms)",
			mode, name, p.P50, p.P99, p.Max, p.FanoutP50, p.FanoutP99)
		c := ControlPlaneFigure{Store: storeName, Op: name, Clients: 1, Calls: len(call[op])}
		c.P50, c.P99, c.Max = latencies(call[op])
		cps = append(cps, c)
	}
	return props, cps, nil
}

// waitAll polls every frontend until each answers host with want, and
// returns when the last one did.
func waitAll(ctx context.Context, fronts []path, host string, want int) (time.Time, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last time.Time
		errs []error
	)
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range fronts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := f.client(1)
			defer c.CloseIdleConnections()
			status := 0
			for {
				resp, err := c.Get("http://" + host + "/")
				if err == nil {
					resp.Body.Close()
					status = resp.StatusCode
					if status == want {
						break
					}
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s answers %s with %d (%v), want %d", f.name, host, status, err, want))
					mu.Unlock()
					return
				}
				time.Sleep(500 * time.Microsecond)
			}
			now := time.Now()
			mu.Lock()
			if now.After(last) {
				last = now
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return last, errs[0]
	}
	return last, nil
}

// benchConcurrentAPI has Clients clients at once create PerClient shares
// each, and then delete them all at once.
func (h *harness) benchConcurrentAPI(ctx context.Context, d *deployment, storeName string) ([]ControlPlaneFigure, error) {
	clients, per := h.cfg.Clients, h.cfg.PerClient
	tokens := make([][]string, clients)
	var lat [2][]time.Duration
	var mu sync.Mutex
	phase := func(op int) error {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A client of its own, as 50 users would have.
				c := apiclient.New(d.apiURL, d.account.Token)
				<-start
				for k := range per {
					t0 := time.Now()
					var err error
					if op == 0 {
						var sh apitypes.Share
						sh, err = c.CreateShare(ctx, d.shareRequest())
						tokens[i] = append(tokens[i], sh.Token)
					} else {
						err = c.DeleteShare(ctx, tokens[i][k])
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					lat[op] = append(lat[op], time.Since(t0))
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		return <-errs
	}
	var figs []ControlPlaneFigure
	for op, name := range []string{"create", "delete"} {
		if err := phase(op); err != nil {
			return nil, fmt.Errorf("%d concurrent %ss: %w", clients, name, err)
		}
		c := ControlPlaneFigure{Store: storeName, Op: name, Clients: clients, Calls: len(lat[op])}
		c.P50, c.P99, c.Max = latencies(lat[op])
		figs = append(figs, c)
		h.logf("api %-8s %-6s x%-3d p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms", storeName, name, clients, c.P50, c.P99, c.Max)
	}
	return figs, nil
}

// medianPropagation merges the rounds' figures of each mode and operation
// into one figure of medians.
func medianPropagation(rounds []PropagationFigure) []PropagationFigure {
	type key struct{ mode, op string }
	return mergeRounds(rounds, func(f PropagationFigure) key { return key{f.Mode, f.Op} }, func(fs []PropagationFigure) PropagationFigure {
		get := func(v func(PropagationFigure) float64) []float64 { return collect(fs, v) }
		f := fs[0]
		f.RunsP50, f.RunsP99 = get(func(f PropagationFigure) float64 { return f.P50 }), get(func(f PropagationFigure) float64 { return f.P99 })
		f.P50, f.P99 = median(f.RunsP50), median(f.RunsP99)
		f.Max = median(get(func(f PropagationFigure) float64 { return f.Max }))
		f.FanoutP50 = median(get(func(f PropagationFigure) float64 { return f.FanoutP50 }))
		f.FanoutP99 = median(get(func(f PropagationFigure) float64 { return f.FanoutP99 }))
		return f
	})
}

// medianControlPlane is medianPropagation for the API calls.
func medianControlPlane(rounds []ControlPlaneFigure) []ControlPlaneFigure {
	type key struct {
		store, op string
		clients   int
	}
	return mergeRounds(rounds, func(f ControlPlaneFigure) key { return key{f.Store, f.Op, f.Clients} }, func(fs []ControlPlaneFigure) ControlPlaneFigure {
		get := func(v func(ControlPlaneFigure) float64) []float64 { return collect(fs, v) }
		f := fs[0]
		f.RunsP50, f.RunsP99 = get(func(f ControlPlaneFigure) float64 { return f.P50 }), get(func(f ControlPlaneFigure) float64 { return f.P99 })
		f.P50, f.P99 = median(f.RunsP50), median(f.RunsP99)
		f.Max = median(get(func(f ControlPlaneFigure) float64 { return f.Max }))
		return f
	})
}
