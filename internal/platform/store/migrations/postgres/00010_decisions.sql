-- +goose Up
-- Who decided an approval, and who may. The decider columns are set by the
-- transition to EXECUTED; deciders is a JSON array of user ids (NULL: any
-- member whose role may decide); created_by_* name the creator, for the
-- project's no-self-approval rule.
ALTER TABLE approvals
    ADD COLUMN decided_via                TEXT CHECK (decided_via IN ('LINK', 'SLACK', 'DASHBOARD')),
    ADD COLUMN decided_by_user_id         TEXT,
    ADD COLUMN decided_by_slack_user_id   TEXT,
    ADD COLUMN decided_by_slack_user_name TEXT,
    ADD COLUMN decision_comment           TEXT,
    ADD COLUMN allow_link                 BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN deciders                   TEXT,
    ADD COLUMN created_by_user_id         TEXT,
    ADD COLUMN created_by_api_key_id      TEXT;

-- APPROVAL_EXECUTED carries the decision as it was made.
ALTER TABLE events
    ADD COLUMN decided_via                TEXT,
    ADD COLUMN decided_by_user_id         TEXT,
    ADD COLUMN decided_by_slack_user_id   TEXT,
    ADD COLUMN decided_by_slack_user_name TEXT,
    ADD COLUMN comment                    TEXT;

ALTER TABLE projects ADD COLUMN no_self_approval BOOLEAN NOT NULL DEFAULT FALSE;

-- A channel's Slack app signing secret (encrypted like the webhook URL,
-- with its key version) makes its messages interactive; allowed_slack_user_ids
-- (comma-separated, NULL: anyone in the channel) restricts who may click.
ALTER TABLE slack_channels
    ADD COLUMN signing_secret_enc     TEXT,
    ADD COLUMN signing_key_version    INTEGER,
    ADD COLUMN allowed_slack_user_ids TEXT;

-- Interaction requests already applied, by the hash of their signature,
-- so that a replayed request changes nothing. Rows older than the
-- signature's five-minute window are pruned: such a request is refused as
-- stale anyway.
CREATE TABLE slack_interactions (
    signature_hash TEXT PRIMARY KEY,
    received_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX slack_interactions_received ON slack_interactions (received_at);

-- +goose Down
DROP TABLE slack_interactions;
ALTER TABLE slack_channels DROP COLUMN allowed_slack_user_ids, DROP COLUMN signing_key_version, DROP COLUMN signing_secret_enc;
ALTER TABLE projects DROP COLUMN no_self_approval;
ALTER TABLE events DROP COLUMN comment, DROP COLUMN decided_by_slack_user_name, DROP COLUMN decided_by_slack_user_id,
    DROP COLUMN decided_by_user_id, DROP COLUMN decided_via;
ALTER TABLE approvals DROP COLUMN created_by_api_key_id, DROP COLUMN created_by_user_id, DROP COLUMN deciders,
    DROP COLUMN allow_link, DROP COLUMN decision_comment, DROP COLUMN decided_by_slack_user_name,
    DROP COLUMN decided_by_slack_user_id, DROP COLUMN decided_by_user_id, DROP COLUMN decided_via;
