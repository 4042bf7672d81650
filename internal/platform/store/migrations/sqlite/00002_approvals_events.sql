-- +goose Up
CREATE TABLE key_values (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    value      TEXT,
    updated_at DATETIME NOT NULL,
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
    created_at          DATETIME NOT NULL,
    expires_at          DATETIME NOT NULL,
    token_hash          TEXT NOT NULL UNIQUE,
    pin_hash            TEXT,
    max_pin_attempts    INTEGER NOT NULL,
    failed_pin_attempts INTEGER NOT NULL DEFAULT 0,
    executed_action     TEXT,
    executed_at         DATETIME,
    invalidated_at      DATETIME,
    invalidation_reason TEXT
);
CREATE INDEX approvals_project_created ON approvals (project_id, created_at DESC, id DESC);
CREATE INDEX approvals_project_key ON approvals (project_id, key_path, status);
CREATE INDEX approvals_project_ref ON approvals (project_id, ref_id);

CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    type         TEXT NOT NULL,
    occurred_at  DATETIME NOT NULL,
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
