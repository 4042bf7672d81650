-- +goose Up
-- Who decided an approval, and who may (see the PostgreSQL migration).
ALTER TABLE approvals ADD COLUMN decided_via TEXT CHECK (decided_via IN ('LINK', 'SLACK', 'DASHBOARD'));
ALTER TABLE approvals ADD COLUMN decided_by_user_id TEXT;
ALTER TABLE approvals ADD COLUMN decided_by_slack_user_id TEXT;
ALTER TABLE approvals ADD COLUMN decided_by_slack_user_name TEXT;
ALTER TABLE approvals ADD COLUMN decision_comment TEXT;
ALTER TABLE approvals ADD COLUMN allow_link BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE approvals ADD COLUMN deciders TEXT;
ALTER TABLE approvals ADD COLUMN created_by_user_id TEXT;
ALTER TABLE approvals ADD COLUMN created_by_api_key_id TEXT;

ALTER TABLE events ADD COLUMN decided_via TEXT;
ALTER TABLE events ADD COLUMN decided_by_user_id TEXT;
ALTER TABLE events ADD COLUMN decided_by_slack_user_id TEXT;
ALTER TABLE events ADD COLUMN decided_by_slack_user_name TEXT;
ALTER TABLE events ADD COLUMN comment TEXT;

ALTER TABLE projects ADD COLUMN no_self_approval BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE slack_channels ADD COLUMN signing_secret_enc TEXT;
ALTER TABLE slack_channels ADD COLUMN signing_key_version INTEGER;
ALTER TABLE slack_channels ADD COLUMN allowed_slack_user_ids TEXT;

CREATE TABLE slack_interactions (
    signature_hash TEXT PRIMARY KEY,
    received_at    DATETIME NOT NULL
);
CREATE INDEX slack_interactions_received ON slack_interactions (received_at);

-- +goose Down
DROP TABLE slack_interactions;
ALTER TABLE slack_channels DROP COLUMN allowed_slack_user_ids;
ALTER TABLE slack_channels DROP COLUMN signing_key_version;
ALTER TABLE slack_channels DROP COLUMN signing_secret_enc;
ALTER TABLE projects DROP COLUMN no_self_approval;
ALTER TABLE events DROP COLUMN comment;
ALTER TABLE events DROP COLUMN decided_by_slack_user_name;
ALTER TABLE events DROP COLUMN decided_by_slack_user_id;
ALTER TABLE events DROP COLUMN decided_by_user_id;
ALTER TABLE events DROP COLUMN decided_via;
ALTER TABLE approvals DROP COLUMN created_by_api_key_id;
ALTER TABLE approvals DROP COLUMN created_by_user_id;
ALTER TABLE approvals DROP COLUMN deciders;
ALTER TABLE approvals DROP COLUMN allow_link;
ALTER TABLE approvals DROP COLUMN decision_comment;
ALTER TABLE approvals DROP COLUMN decided_by_slack_user_name;
ALTER TABLE approvals DROP COLUMN decided_by_slack_user_id;
ALTER TABLE approvals DROP COLUMN decided_by_user_id;
ALTER TABLE approvals DROP COLUMN decided_via;
