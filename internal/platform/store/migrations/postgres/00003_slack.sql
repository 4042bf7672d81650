-- +goose Up
-- Slack channels of a project. The webhook URL is stored only encrypted
-- (AES-256-GCM, see internal/domain/slack/crypto.go) with the version of its key.
CREATE TABLE slack_channels (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    webhook_url_enc      TEXT NOT NULL,
    key_version          INTEGER NOT NULL,
    events               TEXT NOT NULL, -- comma-separated EventType names
    enabled              BOOLEAN NOT NULL,
    disabled_reason      TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    last_delivery_at     TIMESTAMPTZ,
    last_delivery_status TEXT,
    last_error           TEXT,
    UNIQUE (project_id, name)
);
-- Key rotation looks for rows still on an old key.
CREATE INDEX slack_channels_key_version ON slack_channels (key_version, id);

-- One event's delivery to one channel.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    channel_id       TEXT NOT NULL REFERENCES slack_channels (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'RETRYING', 'FAILED', 'SKIPPED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    next_attempt_at  TIMESTAMPTZ,
    delivered_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    job_id           BIGINT  -- the River job that owns the delivery; older ones stand down
);
-- SlackChannel.deliveries, newest first (ids are time-ordered UUIDv7).
CREATE INDEX deliveries_channel ON deliveries (channel_id, id DESC);
CREATE INDEX deliveries_event ON deliveries (event_id);

-- Every request made for a delivery.
CREATE TABLE delivery_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  INTEGER,          -- NULL when no answer arrived
    body         TEXT,             -- Slack's answer, at most 1 KiB
    duration_ms  INTEGER NOT NULL,
    error        TEXT,             -- the transport error, never the URL
    outcome      TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- +goose Down
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE slack_channels;
