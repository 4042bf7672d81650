-- +goose Up
-- Each event records the ID of the transaction that wrote it (xid8, read
-- as a number). The log is ordered by (xid, id) and a reader only hands
-- out events whose xid is below the oldest transaction still open, so
-- events are an exact cursor without a lock shared by every writer (see
-- docs/design/event-log.md). Events written before this migration all
-- committed long ago: 0 puts them first, in ID order.
ALTER TABLE events ADD COLUMN xid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX events_log ON events (xid, id);
CREATE INDEX events_project_log ON events (project_id, xid, id);

-- +goose Down
DROP INDEX events_project_log;
DROP INDEX events_log;
ALTER TABLE events DROP COLUMN xid;
