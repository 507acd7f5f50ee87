package e2e

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// namedBackend answers every request with its own name.
func namedBackend(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAgentsShareTheLoadAndDrainOnStop(t *testing.T) {
	if err := loadCaddyConfig(caddyConfig{directive: "portico {\n\t\tlb_policy round_robin\n\t}"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loadCaddy() })
	_, home := account(t, "balance")
	name := uniqueName("lb")
	host := name + "." + namespace
	mustCLI(t, home, "reserve", name)
	one := startCLIAgent(t, home, "share", "reserved", name, namedBackend(t, "one").URL)
	two := startCLIAgent(t, home, "share", "reserved", name, namedBackend(t, "two").URL)

	count := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			code, body, err := get(host, "/")
			if err != nil || code != 200 {
				t.Fatalf("request through two agents: %d %q %v", code, body, err)
			}
			seen[body]++
		}
		return seen
	}
	wantWithin(t, 10*time.Second, "both agents to take requests", func() error {
		if seen := count(10); seen["one"] == 0 || seen["two"] == 0 {
			return fmt.Errorf("answers %v, want both agents", seen)
		}
		return nil
	})

	// Sticky sessions by cookie keep one client on one agent.
	if err := loadCaddyConfig(caddyConfig{directive: "portico {\n\t\tlb_policy cookie\n\t}"}); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	sticky := &http.Client{Transport: frontendClient.Transport, Jar: jar, Timeout: 10 * time.Second}
	first := ""
	for i := range 10 {
		resp, err := sticky.Get("http://" + host + "/")
		if err != nil {
			t.Fatal(err)
		}
		var b [8]byte
		n, _ := resp.Body.Read(b[:])
		resp.Body.Close()
		if i == 0 {
			first = string(b[:n])
		} else if string(b[:n]) != first {
			t.Fatalf("request %d with the cookie went to %q, want %q", i, b[:n], first)
		}
	}
	if err := loadCaddyConfig(caddyConfig{directive: "portico {\n\t\tlb_policy round_robin\n\t}"}); err != nil {
		t.Fatal(err)
	}

	// Under steady load, one agent stops; no request fails.
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := get(host, "/")
				done.Add(1)
				if err != nil || code != 200 {
					failed.Add(1)
					t.Logf("request failed during the drain: %d %q %v", code, body, err)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	one.stop(t)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed while an agent drained", failed.Load(), done.Load())
	}
	if seen := count(10); seen["two"] != 10 {
		t.Errorf("after one agent stopped, answers %v, want all from two", seen)
	}
	two.stop(t)
}
