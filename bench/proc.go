package bench

// proc.go samples the memory of a benchmark stack's processes.

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// rssBytes is a process's resident set (VmRSS) now; 0 if it cannot be read.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rssSampler records the peak VmRSS of a process until stopped.
type rssSampler struct {
	stopc chan struct{}
	peak  chan int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		peak := rssBytes(pid)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				s.peak <- max(peak, rssBytes(pid))
				return
			case <-t.C:
				peak = max(peak, rssBytes(pid))
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak.
func (s *rssSampler) stop() int64 {
	close(s.stopc)
	return <-s.peak
}
