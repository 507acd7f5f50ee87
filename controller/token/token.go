// Package token makes random tokens and the hashes under which they are stored.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// alphabet is lower-case alphanumerics, so a token is also a valid DNS label.
const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// New returns a random token of n characters from [a-z0-9].
func New(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Hash returns the hex SHA-256 of a token. Tokens are long and random, so a
// fast hash is enough to keep a stolen database from yielding usable tokens.
func Hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
