-- +goose Up
-- The controller's workers read every share a page at a time, in creation
-- order (store.EachShare).
CREATE INDEX IF NOT EXISTS shares_order ON shares (created_at, token);

-- +goose Down
DROP INDEX shares_order;
