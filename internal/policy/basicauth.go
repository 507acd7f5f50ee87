package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
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

// CheckBasicAuth reports whether username and password are one of the
// policy's users. The user is found in constant time, and an unknown user
// costs a bcrypt compare as a known one does, so the time taken does not
// tell which users exist.
func (c *Compiled) CheckBasicAuth(username, password string) bool {
	var found *user
	for i := range c.users {
		if subtle.ConstantTimeCompare(c.users[i].name, []byte(username)) == 1 {
			found = &c.users[i]
		}
	}
	if found == nil {
		bcrypt.CompareHashAndPassword(dummyHash(c.dummyCost), []byte(password))
		return false
	}
	key := loginKey(found, password)
	c.logins.mu.RLock()
	_, ok := c.logins.ok[key]
	c.logins.mu.RUnlock()
	if ok {
		return true
	}
	// Concurrent first requests with the same credentials share one compare.
	v, _, _ := c.logins.flight.Do(string(key[:]), func() (any, error) {
		return bcrypt.CompareHashAndPassword(found.hash, []byte(password)) == nil, nil
	})
	if !v.(bool) {
		return false
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
	return true
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
