-- +goose Up
-- A reserved share keeps its name (and its overlay service) until it is
-- released; agents come and go. Its policy is what frontends enforce.
ALTER TABLE shares ADD COLUMN reserved BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE shares ADD COLUMN policy TEXT NOT NULL DEFAULT '';

-- A closed namespace takes shares only from the accounts granted it.
ALTER TABLE namespaces ADD COLUMN open BOOLEAN NOT NULL DEFAULT TRUE;
CREATE TABLE namespace_grants (
    namespace_id TEXT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (namespace_id, account_id)
);

-- The agents serving a share, each bound under its own terminator identity
-- so that frontends can balance across them.
CREATE TABLE share_agents (
    share_token TEXT NOT NULL REFERENCES shares (token) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    target      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (share_token, id)
);

-- An account's own domains attached to its reserved shares. A domain is
-- mapped only once verified; several accounts may claim one, but only one
-- can verify it.
CREATE TABLE domains (
    name        TEXT NOT NULL,
    share_token TEXT NOT NULL REFERENCES shares (token) ON DELETE CASCADE,
    challenge   TEXT NOT NULL,
    verified_at TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (name, share_token)
);
CREATE UNIQUE INDEX domains_verified ON domains (name) WHERE verified_at IS NOT NULL;

-- +goose Down
DROP TABLE domains;
DROP TABLE share_agents;
DROP TABLE namespace_grants;
ALTER TABLE namespaces DROP COLUMN open;
ALTER TABLE shares DROP COLUMN policy;
ALTER TABLE shares DROP COLUMN reserved;
