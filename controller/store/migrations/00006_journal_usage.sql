-- +goose Up
-- What each account has put in the mapping journals, per clock hour, so that
-- no account can fill every frontend's journal (see Store.charge).
CREATE TABLE journal_usage (
    account_id TEXT NOT NULL,
    hour       BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    PRIMARY KEY (account_id, hour)
);

-- +goose Down
DROP TABLE journal_usage;
