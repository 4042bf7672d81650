-- +goose Up
-- Project.approvals(sort: EXPIRING_SOON) reads a project's approvals by expiry.
CREATE INDEX approvals_project_expires ON approvals (project_id, expires_at, id);
-- Project.events(filter: {keyPath}) reads one key's events, newest first.
CREATE INDEX events_project_key ON events (project_id, key_path, id);
-- SlackChannel.deliveries(status) and Project.deliveries(filter: {status}).
CREATE INDEX deliveries_channel_status ON deliveries (channel_id, status, id);

-- +goose Down
DROP INDEX deliveries_channel_status;
DROP INDEX events_project_key;
DROP INDEX approvals_project_expires;
