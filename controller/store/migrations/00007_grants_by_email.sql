-- +goose Up
-- A closed share is granted to an email, whether or not an account has it
-- yet, so that a grant answers alike for known and unknown emails (no
-- account enumeration) and takes effect when such an account is created.
CREATE TABLE share_email_grants (
    share_token TEXT NOT NULL REFERENCES shares (token) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    PRIMARY KEY (share_token, email)
);
INSERT INTO share_email_grants (share_token, email)
    SELECT g.share_token, LOWER(a.email) FROM share_grants g JOIN accounts a ON a.id = g.account_id;
DROP TABLE share_grants;

-- +goose Down
CREATE TABLE share_grants (
    share_token TEXT NOT NULL REFERENCES shares (token) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (share_token, account_id)
);
INSERT INTO share_grants (share_token, account_id)
    SELECT g.share_token, a.id FROM share_email_grants g JOIN accounts a ON LOWER(a.email) = g.email;
DROP TABLE share_email_grants;
