-- +goose Up
-- The log position of an event is (xid, id). SQLite has one writer, whose
-- transactions commit in ID order, so xid stays 0 and the ID alone orders
-- the log (see docs/design/event-log.md); the column keeps the schema and
-- the queries the same on both databases.
ALTER TABLE events ADD COLUMN xid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_log ON events (xid, id);
CREATE INDEX events_project_log ON events (project_id, xid, id);

-- +goose Down
DROP INDEX events_project_log;
DROP INDEX events_log;
ALTER TABLE events DROP COLUMN xid;
