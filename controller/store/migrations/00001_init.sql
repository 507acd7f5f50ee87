-- +goose Up
-- Ids are random tokens made in Go, so the schema needs no dialect-specific
-- sequences and runs unchanged on SQLite and PostgreSQL.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE environments (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    description      TEXT NOT NULL,
    host             TEXT NOT NULL,
    ziti_identity_id TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX environments_account ON environments (account_id);

CREATE TABLE namespaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE frontends (
    id               TEXT PRIMARY KEY,
    secret_hash      TEXT NOT NULL,
    description      TEXT NOT NULL,
    url_template     TEXT NOT NULL,
    ziti_identity_id TEXT NOT NULL,
    revision         BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL
);

CREATE TABLE frontend_namespaces (
    frontend_id  TEXT NOT NULL REFERENCES frontends (id) ON DELETE CASCADE,
    namespace_id TEXT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    PRIMARY KEY (frontend_id, namespace_id)
);

CREATE TABLE shares (
    token           TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    namespace_id    TEXT NOT NULL REFERENCES namespaces (id),
    name            TEXT NOT NULL,
    share_mode      TEXT NOT NULL,
    backend_mode    TEXT NOT NULL,
    target          TEXT NOT NULL,
    ziti_service_id TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (namespace_id, name)
);
CREATE INDEX shares_account ON shares (account_id);

-- The current mappings of each frontend; Snapshot reads these.
CREATE TABLE mappings (
    frontend_id TEXT NOT NULL REFERENCES frontends (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    share_token TEXT NOT NULL,
    policy      TEXT NOT NULL,
    PRIMARY KEY (frontend_id, name)
);

-- Every change to a frontend's mappings, numbered by its revision; deletes are tombstones.
CREATE TABLE journal (
    frontend_id TEXT NOT NULL REFERENCES frontends (id) ON DELETE CASCADE,
    revision    BIGINT NOT NULL,
    op          TEXT NOT NULL,
    name        TEXT NOT NULL,
    share_token TEXT NOT NULL,
    policy      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (frontend_id, revision)
);

-- +goose Down
DROP TABLE journal;
DROP TABLE mappings;
DROP TABLE shares;
DROP TABLE frontend_namespaces;
DROP TABLE frontends;
DROP TABLE namespaces;
DROP TABLE environments;
DROP TABLE accounts;
