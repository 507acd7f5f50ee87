package bench

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/porticoproxy/portico/internal/testenv"
)

// TestHarnessSmoke runs the whole harness with tiny sizes on the real parts,
// so that `make bench` keeps working. It checks that every figure was taken,
// never how fast: benchmarks gate nothing.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the smoke run starts an OpenZiti network and 7 processes")
	}
	_, err := testenv.ZitiBinary()
	testenv.Require(t, "OpenZiti (ziti binary)", err)
	// The cluster-mode deployment needs both; Run makes its own database and vhost.
	pg := "127.0.0.1:5432"
	if u, err := url.Parse(testenv.PostgresAdminDSN()); err == nil && u.Host != "" {
		pg = u.Host
		if u.Port() == "" {
			pg = net.JoinHostPort(u.Hostname(), "5432")
		}
	}
	for service, addr := range map[string]string{"PostgreSQL": pg, "RabbitMQ": "127.0.0.1:5672"} {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		testenv.Require(t, service, err)
		conn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := Run(ctx, Smoke(), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	wantWritten(t, dir)
	for _, problem := range res.Missing() {
		t.Error(problem)
	}
}

// testWriter sends the harness's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// TestResultsWrite writes the table, the JSON and the chart of made-up
// figures, without starting anything.
func TestResultsWrite(t *testing.T) {
	cfg := Smoke()
	res := newResults(cfg)
	for _, c := range cfg.Concurrency {
		for i, p := range pathOrder {
			v := float64(4-i) * 1000 * float64(c)
			res.HTTP = append(res.HTTP, HTTPFigure{Path: p, Concurrency: c, RPS: v, P50: 1 / v * 1000, P99: 3 / v * 1000,
				RunsRPS: []float64{v, v}, RunsP50: []float64{1, 1}, RunsP99: []float64{3, 3}})
		}
	}
	for i, p := range pathOrder {
		res.Bulk = append(res.Bulk, BulkFigure{Path: p, Bytes: cfg.BulkSize, MBps: 2000 / float64(1+10*i), RSSPeak: 50, RSSGrowth: 1, RunsMBps: []float64{1, 2}})
		res.WebSocket = append(res.WebSocket, WSFigure{Path: p, Messages: 10, P50: 0.1, P99: 0.2, RunsP50: []float64{0.1, 0.1}})
	}
	res.computeRatios()
	res.Mapping = parseBench([]byte("BenchmarkLookup/1000000-2  \t 4000000\t 264.0 ns/op\t 272.0 B/mapping\n" +
		"BenchmarkLookup/1000000-2  \t 4000000\t 270.0 ns/op\t 270.0 B/mapping\n" +
		"BenchmarkBootFromSnapshot/1000000-2  \t 1\t 1756326189 ns/op\n"))
	if f := res.mappingFigure("Lookup/1000000"); f == nil || f.Runs != 2 || f.Metrics["ns/op"] != 267 || f.Metrics["B/mapping"] != 271 {
		t.Errorf("parsed %+v", res.Mapping)
	}
	res.evaluate()
	dir := t.TempDir()
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	wantWritten(t, dir)
	if out := os.Getenv("BENCH_WRITE_TEST_OUT"); out != "" {
		os.CopyFS(out, os.DirFS(dir))
	}
}

// wantWritten checks that Results.Write wrote every file into dir.
func wantWritten(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"latest.json", "latest.txt", "latest.png"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
}
