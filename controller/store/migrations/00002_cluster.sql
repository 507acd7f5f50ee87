-- +goose Up
-- Live controllers, each heartbeating its row.
CREATE TABLE controllers (
    id           TEXT PRIMARY KEY,
    api_address  TEXT NOT NULL,
    grpc_address TEXT NOT NULL,
    version      TEXT NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL
);

-- Live frontend instances, each heartbeating through a controller.
CREATE TABLE frontend_instances (
    id               TEXT PRIMARY KEY,
    frontend_id      TEXT NOT NULL REFERENCES frontends (id) ON DELETE CASCADE,
    applied_revision BIGINT NOT NULL,
    mappings         BIGINT NOT NULL,
    version          TEXT NOT NULL,
    controller_id    TEXT NOT NULL,
    heartbeat_at     TIMESTAMP NOT NULL
);

-- Leases let exactly one controller at a time run each singleton worker.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- When an agent was last seen serving the share (it had a Ziti terminator);
-- the reaper removes ephemeral shares whose agent has been gone too long.
ALTER TABLE shares ADD COLUMN last_seen_at TIMESTAMP;

-- +goose Down
ALTER TABLE shares DROP COLUMN last_seen_at;
DROP TABLE leases;
DROP TABLE frontend_instances;
DROP TABLE controllers;
