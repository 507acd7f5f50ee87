package ziti

// Tests and a benchmark of the Portico patch in addActiveDialService and addActiveBindService.

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/kataras/go-events"
	"github.com/openziti/edge-api/rest_model"
	"github.com/openziti/sdk-golang/ziti/edge"
	"github.com/openziti/sdk-golang/ziti/edge/posture"
	cmap "github.com/orcaman/concurrent-map/v2"
)

// countingServices is a context's ActiveServiceProvider that counts the
// posture evaluations it is asked for.
type countingServices struct {
	*ContextImpl
	evaluations atomic.Int32
}

func (c *countingServices) GetActiveDialServices() []*rest_model.ServiceDetail {
	c.evaluations.Add(1)
	return c.ContextImpl.GetActiveDialServices()
}

// sentResponses is a posture submitter that keeps nothing.
type sentResponses struct{}

func (sentResponses) SendPostureResponse(rest_model.PostureResponseCreate) error { return nil }
func (sentResponses) SendPostureResponseBulk([]rest_model.PostureResponseCreate) error {
	return nil
}

// contextWithServices returns a context that sees n services, named
// svc-0..., none with posture queries.
func contextWithServices(tb testing.TB, n int) (*ContextImpl, *countingServices) {
	closeNotify := make(chan struct{})
	tb.Cleanup(func() { close(closeNotify) })
	ctx := &ContextImpl{
		options:      &Options{},
		services:     cmap.New[*rest_model.ServiceDetail](),
		sessions:     cmap.New[*rest_model.SessionDetail](),
		intercepts:   cmap.New[*edge.InterceptV1Config](),
		activeDials:  cmap.New[*rest_model.ServiceDetail](),
		activeBinds:  cmap.New[*rest_model.ServiceDetail](),
		EventEmmiter: events.New(),
	}
	counter := &countingServices{ContextImpl: ctx}
	ctx.CtrlClt = &CtrlClient{PostureCache: posture.NewCache(counter, sentResponses{}, nil, closeNotify)}
	// The OS answer gathered once, as Portico's contexts have it (gopsutil may fork lsb_release).
	osInfo := posture.DefaultOsProvider{}.GetOsInfo()
	ctx.CtrlClt.PostureCache.SetOsProviderFunc(func() posture.OsInfo { return osInfo })
	for i := range n {
		id, name := fmt.Sprintf("id-%d", i), fmt.Sprintf("svc-%d", i)
		ctx.services.Set(name, &rest_model.ServiceDetail{BaseEntity: rest_model.BaseEntity{ID: &id}, Name: &name})
	}
	return ctx, counter
}

func withPostureQuery(svc *rest_model.ServiceDetail) *rest_model.ServiceDetail {
	id, typ := "q1", rest_model.PostureCheckTypeOS
	out := *svc
	out.PostureQueries = []*rest_model.PostureQueries{{PolicyType: rest_model.DialBindDial,
		PostureQueries: []*rest_model.PostureQuery{{BaseEntity: rest_model.BaseEntity{ID: &id}, QueryType: &typ}}}}
	return &out
}

// A dial of a service without posture checks costs no posture evaluation,
// which walks every visible service; one with posture checks does.
func TestDialEvaluatesPostureOnlyForAServiceWithChecks(t *testing.T) {
	ctx, counter := contextWithServices(t, 100)
	plain, _ := ctx.services.Get("svc-1")
	for range 3 {
		ctx.addActiveDialService(plain)
		ctx.addActiveBindService(plain)
	}
	if n := counter.evaluations.Load(); n != 0 {
		t.Errorf("%d posture evaluations for dials and binds of a service without posture checks, want 0", n)
	}
	ctx.addActiveDialService(withPostureQuery(plain))
	if n := counter.evaluations.Load(); n != 1 {
		t.Errorf("%d posture evaluations after a dial of a service with a posture check, want 1", n)
	}
	if _, active := ctx.activeDials.Get("id-1"); !active {
		t.Error("the dialled service is not among the active dials")
	}
}

// BenchmarkDialPosture is what a dial spends on posture, by the number of
// services the identity sees.
func BenchmarkDialPosture(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx, _ := contextWithServices(b, n)
			svc, _ := ctx.services.Get("svc-1")
			b.ResetTimer()
			for range b.N {
				ctx.addActiveDialService(svc)
			}
		})
	}
}
