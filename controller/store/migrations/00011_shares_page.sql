-- +goose Up
-- A page of an account's shares is read in creation order from a cursor
-- (store.Shares): the index answers it without sorting the account's shares.
-- It also serves every lookup by account that shares_account did. (IF NOT
-- EXISTS: a test replays the migrations from 10 on.)
CREATE INDEX IF NOT EXISTS shares_account_page ON shares (account_id, created_at, token);
DROP INDEX IF EXISTS shares_account;

-- +goose Down
CREATE INDEX shares_account ON shares (account_id);
DROP INDEX shares_account_page;
