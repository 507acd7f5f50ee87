-- +goose Up
-- Reserved names their owner released, with when: for a quarantine another
-- account may not take them, so that links and bookmarks to the old name
-- cannot be caught by a stranger right away.
CREATE TABLE released_names (
    namespace_id TEXT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    released_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (namespace_id, name)
);

-- +goose Down
DROP TABLE released_names;
