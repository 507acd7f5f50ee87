-- +goose Up
-- Settings of the whole deployment, such as the id that tags its objects on
-- an OpenZiti network that other deployments may share.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
