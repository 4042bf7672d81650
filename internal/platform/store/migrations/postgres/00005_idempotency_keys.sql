-- +goose Up
-- Idempotency-Key requests of the REST API's approval creation: the first
-- request with a key creates the approval, a repeat within 24 h gets it
-- again. The link token is not stored: it is derived again from link_seed
-- with the server secret.
CREATE TABLE idempotency_keys (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    request_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL, -- SHA-256 of the request body
    link_seed   TEXT NOT NULL,
    approval_id TEXT REFERENCES approvals (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, request_key)
);

-- +goose Down
DROP TABLE idempotency_keys;
