package store

// Accounts and the hash of their tokens.

import (
	"context"
	"fmt"
	"time"
)

// Account is a user of the controller.
type Account struct {
	ID        string
	Email     string
	CreatedAt time.Time
}

// CreateAccount adds an account with the hash of its token.
func (s *Store) CreateAccount(ctx context.Context, a Account, tokenHash string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO accounts (id, email, token_hash, created_at) VALUES (?, ?, ?, ?)`),
		a.ID, a.Email, tokenHash, a.CreatedAt)
	if isUnique(err) {
		return fmt.Errorf("account %s: %w", a.Email, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("creating account: %w", err)
	}
	return nil
}

// AccountByTokenHash finds the account whose token hashes to tokenHash.
func (s *Store) AccountByTokenHash(ctx context.Context, tokenHash string) (Account, error) {
	var a Account
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, email, created_at FROM accounts WHERE token_hash = ?`), tokenHash).
		Scan(&a.ID, &a.Email, &a.CreatedAt)
	return a, notFound(err, "account")
}
