package bench

// mapping.go runs the mapping-table benchmarks (go test -bench ./bench/) and
// takes their figures into the results.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MappingFigure is one go test benchmark: the median of each metric over
// the -count runs.
type MappingFigure struct {
	// Benchmark is the name without "Benchmark" and the GOMAXPROCS suffix,
	// such as "Lookup/1000000".
	Benchmark string             `json:"benchmark"`
	Runs      int                `json:"runs"`
	Metrics   map[string]float64 `json:"metrics"` // by unit: ns/op, B/mapping, …
}

// benchMapping runs the benchmarks of bench/*_test.go.
func (h *harness) benchMapping(ctx context.Context) ([]MappingFigure, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-count", strconv.Itoa(h.cfg.MappingCount), ".")
	cmd.Dir = filepath.Join(root, "bench")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %v\n%s", err, out)
	}
	return parseBench(out), nil
}

// parseBench reads go test -bench output.
func parseBench(out []byte) []MappingFigure {
	runs := map[string]map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if runs[name] == nil {
			runs[name] = map[string][]float64{}
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				runs[name][f[i+1]] = append(runs[name][f[i+1]], v)
			}
		}
	}
	figs := make([]MappingFigure, 0, len(order))
	for _, name := range order {
		fig := MappingFigure{Benchmark: name, Metrics: map[string]float64{}}
		for unit, vs := range runs[name] {
			fig.Metrics[unit] = median(vs)
			fig.Runs = max(fig.Runs, len(vs))
		}
		figs = append(figs, fig)
	}
	return figs
}

func (r *Results) mappingFigure(name string) *MappingFigure {
	return find(r.Mapping, func(f MappingFigure) bool { return f.Benchmark == name })
}

// formatMetric shows a benchmark metric in a readable unit.
func formatMetric(unit string, v float64) string {
	if unit == "ns/op" {
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.2f s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.0f ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1f µs", v/1e3)
		}
		return fmt.Sprintf("%.0f ns", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func metricUnits(figs []MappingFigure) []string {
	units := map[string]bool{}
	for _, f := range figs {
		for u := range f.Metrics {
			units[u] = true
		}
	}
	return slices.Sorted(maps.Keys(units))
}
