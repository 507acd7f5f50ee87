package zitiident

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openziti/sdk-golang/ziti"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// reauthCounter is a ziti.Context that only counts re-authentications.
type reauthCounter struct {
	ziti.Context
	n   atomic.Int32
	err error
}

func (c *reauthCounter) Reauthenticate() error {
	c.n.Add(1)
	return c.err
}

// errDisplaced is what a v1.6.0 router answered a dial whose API session
// another process of the same identity had displaced.
var errDisplaced = errors.New("failed to create circuit: invalid api session id, expected 4xQ, got 9zR")

// failing returns an op that fails with errs in turn, then succeeds.
func failing(errs ...error) (func() (string, error), *atomic.Int32) {
	var calls atomic.Int32
	return func() (string, error) {
		i := int(calls.Add(1)) - 1
		if i < len(errs) {
			return "", errs[i]
		}
		return "conn", nil
	}, &calls
}

func TestWithSessionReauthenticatesOnceAndRetries(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	zc := &reauthCounter{}
	op, calls := failing(errDisplaced)
	v, err := withSession(zc, zap.New(core), "dial", "svc", op)
	if err != nil || v != "conn" {
		t.Fatalf("withSession = %q, %v; want the retried dial", v, err)
	}
	if zc.n.Load() != 1 || calls.Load() != 2 {
		t.Fatalf("%d re-authentications and %d calls, want 1 and 2", zc.n.Load(), calls.Load())
	}
	if logs.FilterMessageSnippet("re-authenticated").Len() != 1 {
		t.Fatalf("the re-authentication was not logged: %v", logs.All())
	}
}

func TestWithSessionRetriesOnlyOnce(t *testing.T) {
	zc := &reauthCounter{}
	op, calls := failing(errDisplaced, errors.New("invalid session"))
	if _, err := withSession(zc, nil, "bind", "svc", op); err == nil || err.Error() != "invalid session" {
		t.Fatalf("withSession = %v, want the second failure", err)
	}
	if zc.n.Load() != 1 || calls.Load() != 2 {
		t.Fatalf("%d re-authentications and %d calls, want 1 and 2", zc.n.Load(), calls.Load())
	}
}

func TestWithSessionLeavesOtherErrorsAlone(t *testing.T) {
	zc := &reauthCounter{}
	for _, e := range []error{errors.New("service 'x' not found"), errors.New("timeout waiting for dial"), ErrServiceNotFound} {
		op, calls := failing(e)
		if _, err := withSession(zc, nil, "dial", "svc", op); !errors.Is(err, e) {
			t.Fatalf("withSession = %v, want %v", err, e)
		}
		if calls.Load() != 1 {
			t.Fatalf("%v was retried", e)
		}
	}
	if zc.n.Load() != 0 {
		t.Fatalf("%d re-authentications for errors that are not about the session", zc.n.Load())
	}
}

func TestWithSessionReportsAFailedReauthentication(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	zc := &reauthCounter{err: errors.New("controller unreachable")}
	op, calls := failing(errDisplaced)
	if _, err := withSession(zc, zap.New(core), "dial", "svc", op); !errors.Is(err, errDisplaced) {
		t.Fatalf("withSession = %v, want the dial's own error", err)
	}
	if calls.Load() != 1 || logs.FilterMessageSnippet("re-authenticating failed").Len() != 1 {
		t.Fatalf("%d calls, logs %v", calls.Load(), logs.All())
	}
}

// Many dials that fail on one displaced session start one new session: each
// re-authentication closes every router connection of the context.
func TestWithSessionReauthenticatesOnceForConcurrentFailures(t *testing.T) {
	zc := &reauthCounter{}
	start := make(chan struct{})
	failed := sync.WaitGroup{}
	failed.Add(16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			op := func() (string, error) {
				if first {
					first = false
					<-start
					failed.Done()
					failed.Wait() // every dial has failed before any re-authenticates
					return "", errDisplaced
				}
				return "conn", nil
			}
			if _, err := withSession(zc, nil, "dial", "svc", op); err != nil {
				t.Errorf("withSession: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if zc.n.Load() != 1 {
		t.Fatalf("%d re-authentications for one displaced session, want 1", zc.n.Load())
	}
}

func TestIsSessionError(t *testing.T) {
	for msg, want := range map[string]bool{
		"invalid api session id, expected A, got B": true,
		"invalid session":                  true,
		"UNAUTHORIZED":                     true,
		"service 'x' not found":            false,
		"dial timed out":                   false,
		"no terminators exist for service": false,
	} {
		if got := isSessionError(errors.New(msg)); got != want {
			t.Errorf("isSessionError(%q) = %v, want %v", msg, got, want)
		}
	}
}

// A session refused after the context re-authenticated is a new failure,
// and re-authenticates again.
func TestWithSessionReauthenticatesAgainForALaterFailure(t *testing.T) {
	zc := &reauthCounter{}
	for range 2 {
		op, _ := failing(errDisplaced)
		if _, err := withSession(zc, nil, "dial", "svc", op); err != nil {
			t.Fatal(err)
		}
	}
	if zc.n.Load() != 2 {
		t.Fatalf("%d re-authentications for two failures one after the other, want 2", zc.n.Load())
	}
}
