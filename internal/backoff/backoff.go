// Package backoff spaces out retries: waits that double from 250 ms up to
// 10 s, with jitter, so that a fleet of frontends and agents does not
// retry in lockstep after a controller or broker comes back.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

const (
	// Min is the first wait's upper bound.
	Min = 250 * time.Millisecond
	// Max bounds every wait.
	Max = 10 * time.Second
)

// Backoff yields the waits between attempts. The zero value is ready.
type Backoff struct {
	// Cap, if set, bounds every wait instead of Max, for a retry whose
	// cause is known to pass soon (an election).
	Cap     time.Duration
	attempt int
}

// Next returns the wait before the next attempt: a random duration in the
// upper half of the current step.
func (b *Backoff) Next() time.Duration {
	limit := Max
	if b.Cap > 0 {
		limit = b.Cap
	}
	d := limit
	if b.attempt < 16 {
		d = min(Min<<b.attempt, limit)
		b.attempt++
	}
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits for d or until ctx ends; it reports whether the full wait elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
