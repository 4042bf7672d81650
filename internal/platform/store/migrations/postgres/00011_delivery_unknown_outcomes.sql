-- +goose Up
-- Attempts whose request was in flight when the server died: Slack may or
-- may not have posted them, and the retry may post the message again.
-- Counted on the delivery so that lists show them without reading the
-- attempts.
ALTER TABLE deliveries ADD COLUMN unknown_attempts INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN unknown_attempts;
