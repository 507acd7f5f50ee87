-- +goose Up
-- A closed private share admits only the accounts its owner granted; an open
-- one admits any account that knows its token.
ALTER TABLE shares ADD COLUMN closed BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE share_grants (
    share_token TEXT NOT NULL REFERENCES shares (token) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (share_token, account_id)
);

-- The environments that access a private share; the share's Dial policy
-- names exactly their identities.
CREATE TABLE share_accesses (
    id               TEXT PRIMARY KEY,
    share_token      TEXT NOT NULL REFERENCES shares (token) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    environment_id   TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    ziti_identity_id TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX share_accesses_share ON share_accesses (share_token);
CREATE INDEX share_accesses_environment ON share_accesses (environment_id);

-- +goose Down
DROP TABLE share_accesses;
DROP TABLE share_grants;
ALTER TABLE shares DROP COLUMN closed;
