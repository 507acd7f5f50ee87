package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DefaultJournalBudget is how many bytes of mapping changes one account may
// put in the frontends' journals per clock hour unless configured otherwise.
const DefaultJournalBudget = 32 << 20

// BudgetError refuses a change that would take an account past its journal
// budget for the hour.
type BudgetError struct {
	Used, Budget int64
	// RetryAfter is when the next hour's budget starts.
	RetryAfter time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("this account has changed its shares' routes too much this hour (%d of %d bytes of mapping changes, counted once per frontend); try again in %s",
		e.Used, e.Budget, e.RetryAfter.Round(time.Second))
}

// SetJournalBudget sets how many bytes of mapping changes an account may
// journal per clock hour; zero or less means DefaultJournalBudget.
func (s *Store) SetJournalBudget(bytesPerHour int64) {
	if bytesPerHour <= 0 {
		bytesPerHour = DefaultJournalBudget
	}
	s.journalBudget = bytesPerHour
}

// changeOverhead is what a journal row costs beside its mapping's bytes, so
// that small changes count too.
const changeOverhead = 256

// charge counts an account's new journal entries against its budget for the
// hour, inside the transaction that writes them, and refuses them with a
// *BudgetError once the budget is spent. Only what adds routes or agents is
// charged: a removal shrinks what frontends hold and must always work, and
// each removal undoes an addition that was charged, so an account journals
// at most twice its budget an hour.
func (s *Store) charge(ctx context.Context, tx *sql.Tx, accountID string, changes []FrontendChange) error {
	var n int64
	for _, c := range changes {
		n += int64(c.Size()) + changeOverhead
	}
	if n == 0 {
		return nil
	}
	at := now()
	hour := at.Unix() / 3600
	var used int64
	if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO journal_usage (account_id, hour, bytes) VALUES (?, ?, ?)
		ON CONFLICT (account_id, hour) DO UPDATE SET bytes = journal_usage.bytes + excluded.bytes RETURNING bytes`),
		accountID, hour, n).Scan(&used); err != nil {
		return fmt.Errorf("counting journal usage: %w", err)
	}
	if used > s.journalBudget {
		return &BudgetError{Used: used - n, Budget: s.journalBudget, RetryAfter: time.Unix((hour+1)*3600, 0).Sub(at)}
	}
	return nil
}

// forgetJournalUsage drops the counts of hours before before.
func (s *Store) forgetJournalUsage(ctx context.Context, before time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM journal_usage WHERE hour < ?`), before.Unix()/3600); err != nil {
		return fmt.Errorf("forgetting journal usage: %w", err)
	}
	return nil
}
