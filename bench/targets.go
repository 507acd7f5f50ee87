package bench

// targets.go sets the figures beside the targets of issue 5. A missed target
// is reported, never enforced.

import "fmt"

// Target is one goal and the figure it is judged on.
type Target struct {
	Goal string `json:"goal"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

func (r *Results) evaluate() {
	r.Targets = nil
	add := func(goal, got string, met bool) { r.Targets = append(r.Targets, Target{goal, got, met}) }
	ratio := func(what string) (float64, bool) {
		for _, x := range r.Ratios {
			if x.What == what {
				return x.Value, true
			}
		}
		return 0, false
	}
	for _, c := range r.Config.Concurrency {
		if v, ok := ratio(fmt.Sprintf("req/s at %d clients, portico/ceiling", c)); ok {
			add(fmt.Sprintf("(d) >= 0.9x the req/s of (c) at %d clients", c), fmt.Sprintf("%.2fx", v), v >= 0.9)
		}
	}
	if v, ok := ratio(fmt.Sprintf("p50 at %d clients, portico-ceiling (ms)", r.Config.Concurrency[0])); ok {
		add(fmt.Sprintf("(d) adds <= 0.3 ms to the p50 of (c) at %d client", r.Config.Concurrency[0]), fmt.Sprintf("%+.3f ms", v), v <= 0.3)
	}
	if v, ok := ratio("bulk MB/s, portico/ceiling"); ok {
		add("(d) >= 0.9x the MB/s of (c)", fmt.Sprintf("%.2fx", v), v >= 0.9)
	}
	if f := r.bulkFigure(pathPortico); f != nil {
		add(fmt.Sprintf("frontend RSS within +50 MB while streaming %d MB", f.Bytes/1e6), fmt.Sprintf("%+.1f MiB", f.RSSGrowth), f.RSSGrowth*(1<<20)/1e6 <= 50)
	}
	if f := r.mappingFigure("Lookup/1000000"); f != nil {
		add("lookup <= 100 ns at 1M mappings", formatMetric("ns/op", f.Metrics["ns/op"]), f.Metrics["ns/op"] <= 100)
		add("<= 300 B per mapping at 1M", formatMetric("B/mapping", f.Metrics["B/mapping"]), f.Metrics["B/mapping"] <= 300)
	}
	for _, name := range []string{"BootFromSnapshot/1000000", "BootFromCache/1000000"} {
		if f := r.mappingFigure(name); f != nil {
			add("boot with 1M mappings <= 3 s ("+name+")", formatMetric("ns/op", f.Metrics["ns/op"]), f.Metrics["ns/op"] <= 3e9)
		}
	}
	for _, p := range r.Propagation {
		add(fmt.Sprintf("propagation p99 <= 100 ms (%s, %s, from the API call)", p.Mode, p.Op), fmt.Sprintf("%.1f ms", p.P99), p.P99 <= 100)
	}
	for _, c := range r.ControlPlane {
		switch {
		case c.Op == "create" && c.Clients == 1:
			add(fmt.Sprintf("share create p50 <= 300 ms (%s, serial)", c.Store), fmt.Sprintf("%.1f ms", c.P50), c.P50 <= 300)
		case c.Op == "create":
			add(fmt.Sprintf("%d concurrent creates p99 <= 3 s (%s)", c.Clients, c.Store), fmt.Sprintf("%.0f ms", c.P99), c.P99 <= 3000)
		}
	}
}
