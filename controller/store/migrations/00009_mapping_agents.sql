-- +goose Up
-- The agents serving a share travel on its mappings beside the policy, no
-- longer inside it: a space-separated list, empty for none. Migration 10
-- (a Go one, in migrate_agents.go) moves the agents of older rows here.
ALTER TABLE mappings ADD COLUMN agents TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN agents TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE journal DROP COLUMN agents;
ALTER TABLE mappings DROP COLUMN agents;
