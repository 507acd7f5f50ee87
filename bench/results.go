package bench

// results.go holds the figures of a run and writes them as a table and as JSON.

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/porticoproxy/portico/internal/testenv"
)

// Results is everything a run measured. Latencies are in milliseconds,
// rates per second, sizes in bytes unless a name says otherwise; MB is 10^6
// bytes.
type Results struct {
	Date     time.Time         `json:"date"`
	Config   Config            `json:"config"`
	Machine  Machine           `json:"machine"`
	Versions map[string]string `json:"versions"`
	Elapsed  float64           `json:"elapsed_s"`

	HTTP      []HTTPFigure `json:"http"`
	Bulk      []BulkFigure `json:"bulk"`
	WebSocket []WSFigure   `json:"websocket"`

	Propagation  []PropagationFigure  `json:"propagation"`
	ControlPlane []ControlPlaneFigure `json:"control_plane"`
	Mapping      []MappingFigure      `json:"mapping"`

	// Targets are issue 5's goals beside the figures; they gate nothing.
	Targets []Target `json:"targets"`
	// Ratios compare Portico with the overlay ceiling, round by round.
	Ratios []Ratio `json:"ratios"`
}

// Ratio is Portico's figure over the ceiling's: the median of the per-round
// ratios, so that both sides of each ratio ran moments apart.
type Ratio struct {
	What  string  `json:"what"`
	Value float64 `json:"value"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPU    string `json:"cpu"`
	CPUs   int    `json:"cpus"`
	Memory string `json:"memory"`
	Kernel string `json:"kernel"`
	Note   string `json:"note"`
}

func newResults(cfg Config) *Results {
	return &Results{Date: time.Now().UTC().Truncate(time.Second), Config: cfg, Machine: machine(), Versions: versions()}
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Note: "a shared VM: other work may run beside the benchmarks"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		if f := strings.Fields(strings.TrimPrefix(line, "MemTotal:")); len(f) > 0 {
			kb, _ := strconv.ParseFloat(f[0], 64)
			m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func versions() map[string]string {
	v := map[string]string{"go": runtime.Version(), "openziti": testenv.ZitiVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/caddyserver/caddy/v2":
				v["caddy"] = d.Version
			case "github.com/openziti/sdk-golang":
				v["ziti-sdk"] = d.Version
			case "github.com/rabbitmq/amqp091-go":
				v["amqp091-go"] = d.Version
			}
		}
	}
	return v
}

// WriteJSON writes the results to path, creating its directory.
func (r *Results) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResults reads the results that WriteJSON wrote.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &r, nil
}

// Write writes latest.json, latest.txt (the table) and latest.png (the
// chart) into dir.
func (r *Results) Write(dir string) error {
	if err := r.WriteJSON(filepath.Join(dir, "latest.json")); err != nil {
		return err
	}
	if err := r.WriteChart(filepath.Join(dir, "latest.png")); err != nil {
		return fmt.Errorf("drawing the chart: %w", err)
	}
	var b strings.Builder
	r.WriteTable(&b)
	return os.WriteFile(filepath.Join(dir, "latest.txt"), []byte(b.String()), 0o644)
}

// Missing lists the figures a run should have taken and did not.
func (r *Results) Missing() []string {
	var m []string
	if want := 4 * len(r.Config.Concurrency); len(r.HTTP) != want {
		m = append(m, fmt.Sprintf("%d small-request figures, want %d", len(r.HTTP), want))
	}
	for _, f := range r.HTTP {
		if f.RPS <= 0 || f.P50 <= 0 || f.P99 < f.P50 {
			m = append(m, fmt.Sprintf("small requests through %s at %d: %+v", f.Path, f.Concurrency, f))
		}
	}
	if len(r.Bulk) != 4 {
		m = append(m, fmt.Sprintf("%d bulk figures, want 4", len(r.Bulk)))
	}
	for _, f := range r.Bulk {
		if f.MBps <= 0 || (f.Path != pathDirect && f.RSSPeak <= 0) {
			m = append(m, fmt.Sprintf("bulk through %s: %+v", f.Path, f))
		}
	}
	if len(r.WebSocket) != 4 {
		m = append(m, fmt.Sprintf("%d WebSocket figures, want 4", len(r.WebSocket)))
	}
	for _, f := range r.WebSocket {
		if f.Messages == 0 || f.P50 <= 0 {
			m = append(m, fmt.Sprintf("WebSocket through %s: %+v", f.Path, f))
		}
	}
	if len(r.Propagation) != 4 {
		m = append(m, fmt.Sprintf("%d propagation figures, want 4", len(r.Propagation)))
	}
	for _, f := range r.Propagation {
		if f.Shares == 0 || f.P50 <= 0 {
			m = append(m, fmt.Sprintf("propagation: %+v", f))
		}
	}
	if len(r.ControlPlane) != 8 {
		m = append(m, fmt.Sprintf("%d control-plane figures, want 8", len(r.ControlPlane)))
	}
	for _, f := range r.ControlPlane {
		if f.Calls == 0 || f.P50 <= 0 {
			m = append(m, fmt.Sprintf("control plane: %+v", f))
		}
	}
	return m
}

// computeRatios fills Ratios from the data-plane figures.
func (r *Results) computeRatios() {
	r.Ratios = nil
	paired := func(d, c []float64, f func(d, c float64) float64) float64 {
		var xs []float64
		for i := range min(len(d), len(c)) {
			xs = append(xs, f(d[i], c[i]))
		}
		return median(xs)
	}
	div := func(d, c float64) float64 { return d / c }
	sub := func(d, c float64) float64 { return d - c }
	for _, conc := range r.Config.Concurrency {
		d, c := r.httpFigure(pathPortico, conc), r.httpFigure(pathCeiling, conc)
		if d == nil || c == nil {
			continue
		}
		r.Ratios = append(r.Ratios,
			Ratio{fmt.Sprintf("req/s at %d clients, portico/ceiling", conc), paired(d.RunsRPS, c.RunsRPS, div)},
			Ratio{fmt.Sprintf("p50 at %d clients, portico-ceiling (ms)", conc), paired(d.RunsP50, c.RunsP50, sub)})
	}
	if d, c := r.bulkFigure(pathPortico), r.bulkFigure(pathCeiling); d != nil && c != nil {
		r.Ratios = append(r.Ratios, Ratio{"bulk MB/s, portico/ceiling", paired(d.RunsMBps, c.RunsMBps, div)})
	}
	if d, c := r.wsFigure(pathPortico), r.wsFigure(pathCeiling); d != nil && c != nil {
		r.Ratios = append(r.Ratios, Ratio{"WebSocket p50, portico-ceiling (ms)", paired(d.RunsP50, c.RunsP50, sub)})
	}
}

// find returns the first element of xs that match accepts, or nil.
func find[T any](xs []T, match func(T) bool) *T {
	for i := range xs {
		if match(xs[i]) {
			return &xs[i]
		}
	}
	return nil
}

func (r *Results) httpFigure(path string, conc int) *HTTPFigure {
	return find(r.HTTP, func(f HTTPFigure) bool { return f.Path == path && f.Concurrency == conc })
}

func (r *Results) bulkFigure(path string) *BulkFigure {
	return find(r.Bulk, func(f BulkFigure) bool { return f.Path == path })
}

func (r *Results) wsFigure(path string) *WSFigure {
	return find(r.WebSocket, func(f WSFigure) bool { return f.Path == path })
}

// WriteTable writes the results as plain-text tables.
func (r *Results) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Portico benchmarks, %s mode, %s\n", r.Config.Mode, r.Date.Format(time.RFC3339))
	fmt.Fprintf(w, "Machine: %s, %d CPUs, %s, Linux %s (%s)\n", r.Machine.CPU, r.Machine.CPUs, r.Machine.Memory, r.Machine.Kernel, r.Machine.Note)
	fmt.Fprintf(w, "Versions: %s\n", formatVersions(r.Versions))
	fmt.Fprintf(w, "Each figure is the median of %d runs (bulk: %d); contenders alternate within each run.\n", r.Config.Rounds, r.Config.BulkRounds)

	if len(r.HTTP) > 0 {
		fmt.Fprintf(w, "\nSmall requests (GET of %d bytes, keep-alive, %s per run after %s of warm-up)\n", r.Config.SmallSize, r.Config.Duration, r.Config.Warmup)
		tw := table(w)
		fmt.Fprintln(tw, "clients\tpath\treq/s\tp50 ms\tp99 ms\terrors\tproxy RSS after MiB\t")
		for _, f := range r.HTTP {
			rss := "-"
			if f.Path != pathDirect {
				rss = fmt.Sprintf("%.0f", f.RSSAfter)
			}
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.3f\t%.3f\t%d\t%s\t\n", f.Concurrency, pathLabels[f.Path], f.RPS, f.P50, f.P99, f.Errors, rss)
		}
		tw.Flush()
	}
	if len(r.Bulk) > 0 {
		fmt.Fprintf(w, "\nBulk transfer (one GET of %d MB on a fresh connection; RSS of the proxy in the path)\n", r.Config.BulkSize/1e6)
		tw := table(w)
		fmt.Fprintln(tw, "path\tMB/s\tpauses > 20 ms\tlongest pause ms\tRSS before MiB\tRSS peak MiB\tgrowth MiB\t")
		for _, f := range r.Bulk {
			if f.Path == pathDirect {
				fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%.0f\t-\t-\t-\t\n", pathLabels[f.Path], f.MBps, f.Pauses, f.LongestPause)
				continue
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%.0f\t%.1f\t%.1f\t%+.1f\t\n", pathLabels[f.Path], f.MBps, f.Pauses, f.LongestPause, f.RSSBefore, f.RSSPeak, f.RSSGrowth)
		}
		tw.Flush()
	}
	if len(r.WebSocket) > 0 {
		fmt.Fprintf(w, "\nWebSocket echo (%d-byte messages, one at a time on one connection)\n", r.Config.WSMessage)
		tw := table(w)
		fmt.Fprintln(tw, "path\tp50 ms\tp99 ms\tmessages\t")
		for _, f := range r.WebSocket {
			fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t\n", pathLabels[f.Path], f.P50, f.P99, f.Messages)
		}
		tw.Flush()
	}
	if len(r.Propagation) > 0 {
		fmt.Fprintf(w, "\nPropagation (a share created, or deleted, until its host answers on every frontend; one share at a time)\n")
		tw := table(w)
		fmt.Fprintln(tw, "mode\top\tshares\tfrontends\tp50 ms\tp99 ms\tmax ms\tafter the call p50\tp99\t")
		for _, f := range r.Propagation {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t\n", f.Mode, f.Op, f.Shares, f.Frontends, f.P50, f.P99, f.Max, f.FanoutP50, f.FanoutP99)
		}
		tw.Flush()
	}
	if len(r.ControlPlane) > 0 {
		fmt.Fprintf(w, "\nControl plane (API call latency, including the OpenZiti automation)\n")
		tw := table(w)
		fmt.Fprintln(tw, "store\top\tclients\tcalls\tp50 ms\tp99 ms\tmax ms\t")
		for _, f := range r.ControlPlane {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n", f.Store, f.Op, f.Clients, f.Calls, f.P50, f.P99, f.Max)
		}
		tw.Flush()
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\nPortico against the overlay ceiling (median of per-round ratios)")
		tw := table(w)
		for _, x := range r.Ratios {
			fmt.Fprintf(tw, "%s\t%.3f\t\n", x.What, x.Value)
		}
		tw.Flush()
	}
	if len(r.Mapping) > 0 {
		runs := 0
		for _, f := range r.Mapping {
			runs = max(runs, f.Runs)
		}
		fmt.Fprintf(w, "\nMapping table (go test -bench ./bench/, median of %d)\n", runs)
		tw := table(w)
		units := metricUnits(r.Mapping)
		fmt.Fprintf(tw, "benchmark\t%s\t\n", strings.Join(units, "\t"))
		for _, f := range r.Mapping {
			cells := make([]string, len(units))
			for i, u := range units {
				if v, ok := f.Metrics[u]; ok {
					cells[i] = formatMetric(u, v)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t\n", f.Benchmark, strings.Join(cells, "\t"))
		}
		tw.Flush()
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\nTargets (reported, never enforced)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range r.Targets {
			verdict := "met"
			if !t.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Goal, t.Got, verdict)
		}
		tw.Flush()
	}
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

func formatVersions(v map[string]string) string {
	keys := slices.Sorted(maps.Keys(v))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + v[k]
	}
	return strings.Join(parts, ", ")
}
