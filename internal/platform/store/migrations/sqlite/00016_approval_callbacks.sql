-- +goose Up
-- A per-approval callback: an HTTPS URL that receives every event of that
-- approval, signed with the project's callback secret. Stored encrypted
-- like webhook endpoint URLs, with the version of its key; NULL when the
-- approval has none, or after the receiver answered 410 Gone.
ALTER TABLE approvals ADD COLUMN callback_url_enc TEXT;
ALTER TABLE approvals ADD COLUMN callback_key_version INTEGER;
CREATE INDEX approvals_callback_key_version ON approvals (callback_key_version, id) WHERE callback_key_version IS NOT NULL;

-- The project's callback signing secret, created on first use; during a
-- rotation the previous one signs too, until previous_secret_expires_at.
CREATE TABLE callback_secrets (
    project_id                  TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    secret_enc                  TEXT NOT NULL,
    secret_key_version          INTEGER NOT NULL,
    previous_secret_enc         TEXT,
    previous_secret_key_version INTEGER,
    previous_secret_expires_at  DATETIME,
    created_at                  DATETIME NOT NULL,
    updated_at                  DATETIME NOT NULL
);

-- One event's delivery to its approval's callback; the columns of
-- webhook_deliveries, with channel_id naming the approval.
CREATE TABLE callback_deliveries (
    id               TEXT PRIMARY KEY,
    channel_id       TEXT NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'RETRYING', 'FAILED', 'SKIPPED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    unknown_attempts INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    next_attempt_at  DATETIME,
    delivered_at     DATETIME,
    created_at       DATETIME NOT NULL,
    job_id           INTEGER,
    -- the approval whose order the delivery keeps (00015_delivery_order)
    ordered_by       TEXT
);
CREATE INDEX callback_deliveries_channel ON callback_deliveries (channel_id, id DESC);
CREATE UNIQUE INDEX callback_deliveries_event_channel ON callback_deliveries (event_id, channel_id);
CREATE INDEX callback_deliveries_unsettled_order ON callback_deliveries (channel_id, ordered_by, event_id)
    WHERE ordered_by IS NOT NULL AND status IN ('PENDING', 'RETRYING');

-- Every request made for a callback delivery.
CREATE TABLE callback_delivery_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT NOT NULL REFERENCES callback_deliveries (id) ON DELETE CASCADE,
    attempted_at DATETIME NOT NULL,
    status_code  INTEGER,
    body         TEXT,             -- the answer, at most 1 KiB
    duration_ms  INTEGER NOT NULL,
    error        TEXT,             -- the transport error, never the URL
    outcome      TEXT NOT NULL
);
CREATE INDEX callback_delivery_attempts_delivery ON callback_delivery_attempts (delivery_id, id);

-- +goose Down
DROP TABLE callback_delivery_attempts;
DROP TABLE callback_deliveries;
DROP TABLE callback_secrets;
DROP INDEX approvals_callback_key_version;
ALTER TABLE approvals DROP COLUMN callback_key_version;
ALTER TABLE approvals DROP COLUMN callback_url_enc;
