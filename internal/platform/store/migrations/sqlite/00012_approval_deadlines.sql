-- +goose Up
-- A project's opt-in to timely expiry and to a reminder before it. By
-- default an approval expires only on an access attempt (DESIGN §2).
ALTER TABLE projects ADD COLUMN expire_on_time BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN remind_before_seconds INTEGER;
-- When APPROVAL_EXPIRING was recorded; NULL before (and for ever when no
-- reminder was due).
ALTER TABLE approvals ADD COLUMN reminded_at DATETIME;
-- The deadline sweep reads the pending approvals of the opted-in projects
-- by expiry; only pending rows are indexed, so finished approvals cost
-- nothing here.
CREATE INDEX approvals_pending_deadline ON approvals (project_id, expires_at) WHERE status = 'PENDING';
CREATE INDEX projects_expire_on_time ON projects (id) WHERE expire_on_time;
CREATE INDEX projects_remind_before ON projects (remind_before_seconds, id) WHERE remind_before_seconds IS NOT NULL;

-- +goose Down
DROP INDEX projects_remind_before;
DROP INDEX projects_expire_on_time;
DROP INDEX approvals_pending_deadline;
ALTER TABLE approvals DROP COLUMN reminded_at;
ALTER TABLE projects DROP COLUMN remind_before_seconds;
ALTER TABLE projects DROP COLUMN expire_on_time;
