-- +goose Up
-- Webhook endpoints of a project: HTTPS URLs that receive its events,
-- signed per the Standard Webhooks specification. The URL and the signing
-- secrets are stored only encrypted (AES-256-GCM, internal/domain/slack/crypto.go)
-- with the version of their key. During a rotation the previous secret
-- signs too, until previous_secret_expires_at.
CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY,
    project_id                  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                        TEXT NOT NULL,
    url_enc                     TEXT NOT NULL,
    key_version                 INTEGER NOT NULL,
    secret_enc                  TEXT NOT NULL,
    secret_key_version          INTEGER NOT NULL,
    previous_secret_enc         TEXT,
    previous_secret_key_version INTEGER,
    previous_secret_expires_at  DATETIME,
    events                      TEXT NOT NULL, -- comma-separated EventType names
    enabled                     BOOLEAN NOT NULL,
    disabled_reason             TEXT,
    created_at                  DATETIME NOT NULL,
    updated_at                  DATETIME NOT NULL,
    last_delivery_at            DATETIME,
    last_delivery_status        TEXT,
    last_error                  TEXT,
    -- Deliveries FAILED since the last DELIVERED, and when the first
    -- attempt since then failed: sustained failure disables the endpoint.
    failed_in_a_row             INTEGER NOT NULL DEFAULT 0,
    failing_since               DATETIME,
    UNIQUE (project_id, name)
);
CREATE INDEX webhook_endpoints_key_version ON webhook_endpoints (key_version, id);

-- One event's delivery to one endpoint; the columns of deliveries, with
-- channel_id naming the endpoint (a channel of the webhook kind).
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    channel_id       TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'RETRYING', 'FAILED', 'SKIPPED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    unknown_attempts INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    next_attempt_at  DATETIME,
    delivered_at     DATETIME,
    created_at       DATETIME NOT NULL,
    job_id           INTEGER
);
CREATE INDEX webhook_deliveries_channel ON webhook_deliveries (channel_id, id DESC);
CREATE UNIQUE INDEX webhook_deliveries_event_channel ON webhook_deliveries (event_id, channel_id);

-- Every request made for a webhook delivery.
CREATE TABLE webhook_delivery_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at DATETIME NOT NULL,
    status_code  INTEGER,
    body         TEXT,             -- the answer, at most 1 KiB
    duration_ms  INTEGER NOT NULL,
    error        TEXT,             -- the transport error, never the URL
    outcome      TEXT NOT NULL
);
CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
