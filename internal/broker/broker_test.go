package broker

import (
	"strings"
	"testing"
)

func TestBackoff(t *testing.T) {
	var b backoff
	for i := range 30 {
		d := b.next()
		if d < minBackoff/2 || d > maxBackoff {
			t.Fatalf("attempt %d: wait %v outside [%v, %v]", i, d, minBackoff/2, maxBackoff)
		}
		if i > 8 && d < maxBackoff/2 {
			t.Fatalf("attempt %d: wait %v, want it capped near %v", i, d, maxBackoff)
		}
	}
	b.reset()
	if d := b.next(); d > minBackoff {
		t.Errorf("after reset: wait %v, want at most %v", d, minBackoff)
	}
}

func TestValidateURLHidesPassword(t *testing.T) {
	err := validateURL("amqp://user:s3cret@host:5672/%zz")
	if err == nil {
		t.Fatal("accepted a broken url")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("error %q shows the password", got)
	}
}
