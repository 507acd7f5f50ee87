package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test if it does not
// within d. The bound is for correctness (a change arrives), never speed.
func Eventually(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
