package bench

// The benchmarks of the mapping table report numbers with
// `go test -bench . ./bench/` and gate nothing.

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
)

var sizes = []int{10_000, 100_000, 1_000_000}

func mappings(n int) []mapping.Mapping {
	ms := make([]mapping.Mapping, n)
	for i := range ms {
		tok := fmt.Sprintf("s%011d", i) // 12 characters, as real share tokens
		ms[i] = mapping.Mapping{Name: tok + ".share.example.com", Share: tok}
	}
	return ms
}

// BenchmarkLookup is the frontend's hot path: normalise the Host and find
// its route. It also reports the table's memory per mapping.
func BenchmarkLookup(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ms := mappings(n)
			hosts := make([]string, len(ms))
			for i, m := range ms {
				hosts[i] = m.Name + ":443"
			}
			before := heap()
			t := routes.NewTable()
			t.Replace(1, ms)
			perMapping := float64(heap()-before) / float64(n)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if r, _ := t.Lookup(routes.NormalizeHost(hosts[i])); r == nil {
					b.Fatal("miss")
				}
				if i++; i == n {
					i = 0
				}
			}
			b.ReportMetric(perMapping, "B/mapping") // after the loop: ResetTimer drops metrics
			runtime.KeepAlive(ms)
		})
	}
}

// BenchmarkBootFromCache is a frontend starting from its on-disk table, as
// it does before any controller answers.
func BenchmarkBootFromCache(b *testing.B) {
	for _, n := range sizes[1:] {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "cache.json")
			t := routes.NewTable()
			t.Replace(1, mappings(n))
			if err := t.Save(path); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if ok, err := routes.NewTable().Load(path); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// BenchmarkReplace is installing a snapshot that has arrived.
func BenchmarkReplace(b *testing.B) {
	for _, n := range sizes[1:] {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ms := mappings(n)
			for b.Loop() {
				routes.NewTable().Replace(1, ms)
			}
		})
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
