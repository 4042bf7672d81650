-- +goose Up
CREATE TABLE key_values (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    value      TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, path)
);

CREATE TABLE approvals (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key_path            TEXT NOT NULL,
    info                TEXT,
    ref_id              TEXT,
    actions             TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('PENDING', 'EXECUTED', 'EXPIRED', 'INVALIDATED', 'LOCKED')),
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL,
    token_hash          TEXT NOT NULL UNIQUE,
    pin_hash            TEXT,
    max_pin_attempts    INTEGER NOT NULL,
    failed_pin_attempts INTEGER NOT NULL DEFAULT 0,
    executed_action     TEXT,
    executed_at         TIMESTAMPTZ,
    invalidated_at      TIMESTAMPTZ,
    invalidation_reason TEXT
);
CREATE INDEX approvals_project_created ON approvals (project_id, created_at DESC, id DESC);
CREATE INDEX approvals_project_key ON approvals (project_id, key_path, status);
CREATE INDEX approvals_project_ref ON approvals (project_id, ref_id);

CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    type         TEXT NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    approval_id  TEXT REFERENCES approvals (id) ON DELETE CASCADE,
    key_path     TEXT NOT NULL,
    action       TEXT,
    attempts     INTEGER,
    max_attempts INTEGER,
    reason       TEXT
);
CREATE INDEX events_project ON events (project_id, id);
CREATE INDEX events_approval ON events (approval_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE approvals;
DROP TABLE key_values;
