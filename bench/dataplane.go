package bench

// dataplane.go measures the four paths: small requests, one bulk transfer
// and a WebSocket echo.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// HTTPFigure is the small-request figure of one path at one concurrency.
type HTTPFigure struct {
	Path        string  `json:"path"`
	Concurrency int     `json:"concurrency"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	Errors      int     `json:"errors"`
	// RSSAfter is the VmRSS of the proxy in the path after the last run, in
	// MiB; 0 for the direct path.
	RSSAfter float64   `json:"rss_after_mib"`
	RunsRPS  []float64 `json:"runs_rps"`
	RunsP50  []float64 `json:"runs_p50_ms"`
	RunsP99  []float64 `json:"runs_p99_ms"`
}

// BulkFigure is one large answer through one path, and the memory of the
// proxy in the path while it streamed.
type BulkFigure struct {
	Path  string  `json:"path"`
	Bytes int64   `json:"bytes"`
	MBps  float64 `json:"mb_per_s"`
	// RSSBefore is the proxy's VmRSS before the transfer and RSSPeak its
	// highest sample during it, in MiB; RSSGrowth is the difference. All
	// are medians over the runs; 0 for the direct path, which has no proxy.
	RSSBefore float64   `json:"rss_before_mib"`
	RSSPeak   float64   `json:"rss_peak_mib"`
	RSSGrowth float64   `json:"rss_growth_mib"`
	RunsMBps  []float64 `json:"runs_mb_per_s"`
	// LongestPause is the longest wait for the next bytes of the body in
	// any run, in ms, and Pauses the median count of waits over 20 ms: the
	// stalls that issue 7 is about.
	LongestPause float64 `json:"longest_pause_ms"`
	Pauses       float64 `json:"pauses_over_20ms"`
}

// WSFigure is the WebSocket echo round trip through one path.
type WSFigure struct {
	Path     string    `json:"path"`
	Messages int       `json:"messages"`
	P50      float64   `json:"p50_ms"`
	P99      float64   `json:"p99_ms"`
	RunsP50  []float64 `json:"runs_p50_ms"`
	RunsP99  []float64 `json:"runs_p99_ms"`
}

// rotation is the order of the contenders in round r: each takes each place
// in turn, so none always runs first (or last) on a warming machine.
func rotation(n, r int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = (r + i) % n
	}
	return order
}

// benchHTTP runs the small-request comparison.
func (h *harness) benchHTTP(ctx context.Context, paths []path) ([]HTTPFigure, error) {
	var figs []HTTPFigure
	for _, conc := range h.cfg.Concurrency {
		byPath := make([]HTTPFigure, len(paths))
		for i, p := range paths {
			byPath[i] = HTTPFigure{Path: p.name, Concurrency: conc}
		}
		for r := range h.cfg.Rounds {
			for _, i := range rotation(len(paths), r) {
				run, err := loadRun(ctx, paths[i], conc, "/small", h.cfg.SmallSize, h.cfg.Warmup, h.cfg.Duration)
				if err != nil {
					return nil, err
				}
				f := &byPath[i]
				p50, p99, _ := latencies(run.lat)
				f.RunsRPS, f.RunsP50, f.RunsP99 = append(f.RunsRPS, run.rps), append(f.RunsP50, p50), append(f.RunsP99, p99)
				f.Errors += run.errors
			}
		}
		for i := range byPath {
			f := &byPath[i]
			f.RPS, f.P50, f.P99 = median(f.RunsRPS), median(f.RunsP50), median(f.RunsP99)
			if p := paths[i].proc; p != nil {
				f.RSSAfter = mib(rssBytes(p.Pid()))
			}
			h.logf("http c=%-3d %-8s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  errors %d  RSS %.0f MiB", conc, f.Path, f.RPS, f.P50, f.P99, f.Errors, f.RSSAfter)
		}
		figs = append(figs, byPath...)
	}
	return figs, nil
}

type loadResult struct {
	rps    float64
	lat    []time.Duration
	errors int
}

// loadRun has conc clients send GETs for path through p as fast as each gets
// answers: warmup first, then it measures for dur. Each answer must be 200
// with wantLen bytes.
func loadRun(ctx context.Context, p path, conc int, path string, wantLen int, warmup, dur time.Duration) (loadResult, error) {
	client := p.client(conc)
	defer client.CloseIdleConnections()
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+dur)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		all    []time.Duration
		errs   int
		last   time.Time
		errMsg error
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var nerr int
			var lastErr error
			var done time.Time
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				err := get(client, p.url(path), wantLen)
				done = time.Now()
				if err != nil {
					nerr++
					lastErr = err
					time.Sleep(time.Millisecond)
					continue
				}
				if !t0.Before(measureFrom) {
					lat = append(lat, done.Sub(t0))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			errs += nerr
			if lastErr != nil {
				errMsg = lastErr
			}
			if done.After(last) {
				last = done
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("%s: no request succeeded: %v", p.label, errMsg)
	}
	return loadResult{rps: float64(len(all)) / last.Sub(measureFrom).Seconds(), lat: all, errors: errs}, nil
}

// get fetches url and checks the answer.
func get(c *http.Client, url string, wantLen int) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != int64(wantLen) {
		return fmt.Errorf("GET %s: %s with %d bytes, want 200 with %d", url, resp.Status, n, wantLen)
	}
	return nil
}

// benchBulk runs the bulk comparison.
func (h *harness) benchBulk(ctx context.Context, paths []path) ([]BulkFigure, error) {
	figs := make([]BulkFigure, len(paths))
	var before, peak, growth, pauses [][]float64 = make([][]float64, len(paths)), make([][]float64, len(paths)), make([][]float64, len(paths)), make([][]float64, len(paths))
	for i, p := range paths {
		figs[i] = BulkFigure{Path: p.name, Bytes: h.cfg.BulkSize}
	}
	for r := range h.cfg.BulkRounds {
		for _, i := range rotation(len(paths), r) {
			run, err := bulkRun(ctx, paths[i], h.cfg.BulkSize)
			if err != nil {
				return nil, err
			}
			figs[i].RunsMBps = append(figs[i].RunsMBps, run.mbps)
			before[i] = append(before[i], mib(run.rssBefore))
			peak[i] = append(peak[i], mib(run.rssPeak))
			growth[i] = append(growth[i], mib(run.rssPeak-run.rssBefore))
			pauses[i] = append(pauses[i], float64(run.pauses))
			figs[i].LongestPause = max(figs[i].LongestPause, ms(run.longest))
			h.logf("bulk %-8s %8.1f MB/s  RSS %.1f -> %.1f MiB  %d pauses over 20 ms, longest %.0f ms",
				paths[i].name, run.mbps, mib(run.rssBefore), mib(run.rssPeak), run.pauses, ms(run.longest))
		}
	}
	for i := range figs {
		f := &figs[i]
		f.MBps, f.RSSBefore, f.RSSPeak, f.RSSGrowth = median(f.RunsMBps), median(before[i]), median(peak[i]), median(growth[i])
		f.Pauses = median(pauses[i])
	}
	return figs, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

type bulkResult struct {
	mbps               float64
	rssBefore, rssPeak int64
	longest            time.Duration // the longest wait between two reads of the body
	pauses             int           // waits over 20 ms
}

// bulkRun fetches size bytes through p on a fresh connection, sampling the
// memory of the proxy in the path while they stream.
func bulkRun(ctx context.Context, p path, size int64) (bulkResult, error) {
	client := p.client(1)
	defer client.CloseIdleConnections()
	var res bulkResult
	var sampler *rssSampler
	if p.proc != nil {
		pid := p.proc.Pid()
		res.rssBefore = rssBytes(pid)
		sampler = sampleRSS(pid, 20*time.Millisecond)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/bulk?n="+strconv.FormatInt(size, 10)), nil)
	if err != nil {
		return res, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	var n int64
	if err == nil {
		n, res.longest, res.pauses, err = drain(resp.Body)
		resp.Body.Close()
	}
	elapsed := time.Since(start)
	if sampler != nil {
		res.rssPeak = sampler.stop()
	}
	if err != nil {
		return res, fmt.Errorf("bulk through %s: %w", p.label, err)
	}
	if resp.StatusCode != http.StatusOK || n != size {
		return res, fmt.Errorf("bulk through %s: %s with %d bytes, want 200 with %d", p.label, resp.Status, n, size)
	}
	res.mbps = float64(size) / 1e6 / elapsed.Seconds()
	return res, nil
}

// drain reads r to the end and times the waits between reads.
func drain(r io.Reader) (n int64, longest time.Duration, pauses int, err error) {
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		k, err := r.Read(buf)
		if k > 0 {
			now := time.Now()
			wait := now.Sub(last)
			longest = max(longest, wait)
			if wait > 20*time.Millisecond {
				pauses++
			}
			n, last = n+int64(k), now
		}
		if err == io.EOF {
			return n, longest, pauses, nil
		}
		if err != nil {
			return n, longest, pauses, err
		}
	}
}

// benchWebSocket runs the WebSocket echo comparison.
func (h *harness) benchWebSocket(ctx context.Context, paths []path) ([]WSFigure, error) {
	figs := make([]WSFigure, len(paths))
	for i, p := range paths {
		figs[i] = WSFigure{Path: p.name}
	}
	for r := range h.cfg.Rounds {
		for _, i := range rotation(len(paths), r) {
			lat, err := wsRun(ctx, paths[i], h.cfg.WSMessage, h.cfg.Warmup, h.cfg.Duration)
			if err != nil {
				return nil, err
			}
			p50, p99, _ := latencies(lat)
			f := &figs[i]
			f.Messages += len(lat)
			f.RunsP50, f.RunsP99 = append(f.RunsP50, p50), append(f.RunsP99, p99)
		}
	}
	for i := range figs {
		f := &figs[i]
		f.P50, f.P99 = median(f.RunsP50), median(f.RunsP99)
		h.logf("ws   %-8s p50 %6.3f ms  p99 %6.3f ms  (%d messages)", f.Path, f.P50, f.P99, f.Messages)
	}
	return figs, nil
}

// wsRun opens a WebSocket through p and sends msgSize-byte messages one at a
// time, each after the echo of the last: warmup first, then it measures each
// round trip for dur.
func wsRun(ctx context.Context, p path, msgSize int, warmup, dur time.Duration) ([]time.Duration, error) {
	client := p.client(1)
	defer client.CloseIdleConnections()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+p.host+"/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("websocket through %s: %w", p.label, err)
	}
	defer c.CloseNow()
	msg := chunk[:msgSize]
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+dur)
	var lat []time.Duration
	for t0 := time.Now(); t0.Before(end); t0 = time.Now() {
		if err := c.Write(dctx, websocket.MessageBinary, msg); err != nil {
			return nil, fmt.Errorf("websocket through %s: %w", p.label, err)
		}
		_, got, err := c.Read(dctx)
		if err != nil {
			return nil, fmt.Errorf("websocket through %s: %w", p.label, err)
		}
		if len(got) != msgSize {
			return nil, fmt.Errorf("websocket through %s: echo of %d bytes, want %d", p.label, len(got), msgSize)
		}
		if !t0.Before(measureFrom) {
			lat = append(lat, time.Since(t0))
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	return lat, nil
}
