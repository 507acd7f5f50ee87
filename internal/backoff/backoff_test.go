package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	var b Backoff
	for i := range 30 {
		d := b.Next()
		if d < Min/2 || d > Max {
			t.Fatalf("attempt %d: wait %v outside [%v, %v]", i, d, Min/2, Max)
		}
		if i > 8 && d < Max/2 {
			t.Fatalf("attempt %d: wait %v, want it capped near %v", i, d, Max)
		}
	}
	b.Reset()
	if d := b.Next(); d > Min {
		t.Errorf("after reset: wait %v, want at most %v", d, Min)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep waited out a cancelled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep did not wait")
	}
}

func TestBackoffCap(t *testing.T) {
	b := Backoff{Cap: time.Second}
	for i := range 30 {
		if d := b.Next(); d < Min/2 || d > time.Second {
			t.Fatalf("attempt %d: wait %v outside [%v, 1s]", i, d, Min/2)
		}
	}
}
