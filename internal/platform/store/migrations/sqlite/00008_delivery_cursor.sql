-- +goose Up
-- Slack deliveries are fanned out from the event log after the events
-- commit (internal/domain/notify/fanout.go), not inside the recording
-- transaction. The cursor is the log position (xid, id) of the last event
-- fanned out; it starts at the end of the log, whose events already have
-- their deliveries.
CREATE TABLE delivery_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    xid      BIGINT NOT NULL,
    event_id BIGINT NOT NULL
);
INSERT INTO delivery_cursor (id, xid, event_id)
SELECT 1, COALESCE((SELECT xid FROM events ORDER BY xid DESC, id DESC LIMIT 1), 0),
          COALESCE((SELECT id FROM events ORDER BY xid DESC, id DESC LIMIT 1), 0);
-- One delivery per event and channel, so that an event fanned out twice
-- (an instance of the previous version still enqueueing in its own
-- transaction during a rolling upgrade) is delivered once.
CREATE UNIQUE INDEX deliveries_event_channel ON deliveries (event_id, channel_id);
DROP INDEX deliveries_event;

-- +goose Down
CREATE INDEX deliveries_event ON deliveries (event_id);
DROP INDEX deliveries_event_channel;
DROP TABLE delivery_cursor;
