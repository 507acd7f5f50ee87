package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Caddy's caddyauth.HTTPBasicAuth is not reused: it is provisioned through a
// caddy.Context (a policy compiles in the mapping table, outside any config),
// its cache keys hold plaintext passwords and remember failures, and it finds
// the user with a map lookup rather than in constant time.

type user struct {
	name, hash []byte
}

// loginCacheSize bounds the successful logins a policy remembers.
const loginCacheSize = 1024

// loginCache remembers successful (user, hash, password) checks, keyed by a
// salted SHA-256, so a visitor pays bcrypt's cost once rather than on every
// request. Failures are never cached: each costs a full bcrypt compare. The
// cache belongs to one compiled policy, so a changed or removed user is
// forgotten with the policy it was in.
type loginCache struct {
	mu     sync.RWMutex
	ok     map[[sha256.Size]byte]struct{}
	flight singleflight.Group
}

// cacheSalt keeps the cache's keys from being a plain hash of the password.
var cacheSalt = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

func (c *Compiled) compileUsers(users []User) {
	for _, u := range users {
		cost, _ := bcrypt.Cost([]byte(u.PasswordHash)) // validated
		c.dummyCost = max(c.dummyCost, cost)
		c.users = append(c.users, user{name: []byte(u.Username), hash: []byte(u.PasswordHash)})
	}
	c.logins = &loginCache{ok: map[[sha256.Size]byte]struct{}{}}
}

// compareSlots bounds the bcrypt compares running at once in this process
// (a frontend) to one per CPU, so that a flood of logins queues rather than
// starving the requests that need no compare.
var compareSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// ErrLoginsBusy means a login waited for a bcrypt compare until its context
// ended: the frontend is checking as many passwords as it has CPUs.
var ErrLoginsBusy = errors.New("too many logins are being checked; try again shortly")

// compare runs one bcrypt compare once a slot is free.
func compare(ctx context.Context, hash []byte, password string) (bool, error) {
	select {
	case compareSlots <- struct{}{}:
	case <-ctx.Done():
		return false, ErrLoginsBusy
	}
	defer func() { <-compareSlots }()
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil, nil
}

// CheckBasicAuth reports whether username and password are one of the
// policy's users. The user is found in constant time, and an unknown user
// costs a bcrypt compare as a known one does, so the time taken does not
// tell which users exist. A login the policy has accepted before needs no
// compare; otherwise it waits for a compare slot until ctx ends
// (ErrLoginsBusy).
func (c *Compiled) CheckBasicAuth(ctx context.Context, username, password string) (bool, error) {
	var found *user
	for i := range c.users {
		if subtle.ConstantTimeCompare(c.users[i].name, []byte(username)) == 1 {
			found = &c.users[i]
		}
	}
	if found == nil {
		_, err := compare(ctx, dummyHash(c.dummyCost), password)
		return false, err
	}
	key := loginKey(found, password)
	c.logins.mu.RLock()
	_, ok := c.logins.ok[key]
	c.logins.mu.RUnlock()
	if ok {
		return true, nil
	}
	// Concurrent first requests with the same credentials share one compare.
	v, err, _ := c.logins.flight.Do(string(key[:]), func() (any, error) {
		return compare(ctx, found.hash, password)
	})
	if err != nil || !v.(bool) {
		return false, err
	}
	c.logins.mu.Lock()
	if len(c.logins.ok) >= loginCacheSize {
		for k := range c.logins.ok { // map order is random: evict any one
			delete(c.logins.ok, k)
			break
		}
	}
	c.logins.ok[key] = struct{}{}
	c.logins.mu.Unlock()
	return true, nil
}

// FailedLogins limits failed logins per client and share: each pair may
// fail a burst of times, then once per interval, and beyond that its logins
// are refused before any password is checked. It remembers a bounded number
// of pairs, forgetting the least recently seen first. IPv6 clients count by
// their /64, which one client usually holds whole.
type FailedLogins struct {
	burst int
	every time.Duration
	pairs *lru.Cache[string, *rate.Limiter]
}

// NewFailedLogins returns a limit of burst failures, then one per every, for
// up to size client and share pairs.
func NewFailedLogins(burst int, every time.Duration, size int) *FailedLogins {
	pairs, _ := lru.New[string, *rate.Limiter](size) // size > 0
	return &FailedLogins{burst: burst, every: every, pairs: pairs}
}

// TooManyFailures refuses a login from a client that failed too often.
type TooManyFailures struct{ RetryAfter time.Duration }

func (e *TooManyFailures) Error() string {
	return fmt.Sprintf("too many failed logins from this address; try again in %s", e.RetryAfter.Round(time.Second))
}

func failureKey(share string, client netip.Addr) string {
	if client.Is6() && !client.Is4In6() {
		p, _ := client.WithZone("").Prefix(64)
		return share + "\x00" + p.String()
	}
	return share + "\x00" + client.Unmap().String()
}

// Allow returns a *TooManyFailures if the client has no failure left to
// spend on share.
func (f *FailedLogins) Allow(share string, client netip.Addr) error {
	lim, ok := f.pairs.Get(failureKey(share, client))
	if !ok {
		return nil
	}
	now := time.Now()
	if lim.TokensAt(now) >= 1 {
		return nil
	}
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return &TooManyFailures{RetryAfter: wait}
}

// Failed spends one of the client's failures on share.
func (f *FailedLogins) Failed(share string, client netip.Addr) {
	lim := rate.NewLimiter(rate.Every(f.every), f.burst)
	if prev, ok, _ := f.pairs.PeekOrAdd(failureKey(share, client), lim); ok {
		lim = prev
	}
	lim.Allow()
}

func loginKey(u *user, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(cacheSalt)
	h.Write(u.name)
	h.Write([]byte{0})
	h.Write(u.hash)
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// dummyHashes are bcrypt hashes of nothing in particular, one per cost, made
// on first use, that an unknown user's password is compared against.
var dummyHashes [MaxBcryptCost + 1]struct {
	once sync.Once
	hash []byte
}

func dummyHash(cost int) []byte {
	d := &dummyHashes[cost]
	d.once.Do(func() {
		d.hash, _ = bcrypt.GenerateFromPassword([]byte("portico: no such user"), cost)
	})
	return d.hash
}
