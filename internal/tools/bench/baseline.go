package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/platform/store"
)

// The baselines' SQL: the rows an operation must write and the reads it
// cannot do without, each as one plain statement with the columns the
// table needs, written here and not taken from the server's code, and no
// lock. A baseline is the work any implementation has to do; the server's
// own statements are what is being measured against it.
const (
	// The API key of an authenticated request (the read baseline).
	sqlKeyByHash = `SELECT id, project_id, scope, last_used_at, revoked_at FROM api_keys WHERE secret_hash = $1`

	// createApproval: four inserts in one transaction: the approval (with
	// the API key that created it, for the no-self-approval rule; the link
	// allowed and any member deciding are the columns' defaults), its
	// APPROVAL_CREATED event, the River job and the delivery row of the
	// project's Slack channel. No lock: the approval's foreign-key check
	// takes the project's row before the transaction holds any row that a
	// project delete waits for.
	sqlBaseApproval = `INSERT INTO approvals (id, project_id, key_path, info, actions, status, created_at, expires_at, ` +
		`token_hash, pin_hash, max_pin_attempts, failed_pin_attempts, created_by_api_key_id) ` +
		`VALUES ($1,$2,$3,$4,$5,'PENDING',$6,$7,$8,$9,5,0,$10)`
	sqlBaseEvent = `INSERT INTO events (type, occurred_at, project_id, approval_id, key_path, action, decided_via) ` +
		`VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`
	// River's job row, with the kind, queue and attempts the server's
	// delivery jobs have, so that the server's workers deliver both sides'
	// events alike. SQLite stores the arguments as JSONB.
	sqlBaseJobPG    = `INSERT INTO river_job (args, kind, max_attempts, queue) VALUES ($1, 'slack_delivery', 10, 'slack') RETURNING id`
	sqlBaseJobLite  = `INSERT INTO river_job (args, kind, max_attempts, queue) VALUES (jsonb($1), 'slack_delivery', 10, 'slack') RETURNING id`
	sqlBaseDelivery = `INSERT INTO deliveries (id, channel_id, event_id, status, attempts, created_at, job_id) ` +
		`VALUES ($1,$2,$3,'PENDING',0,$4,$5)`

	// approvalLink + executeApproval: the approval of the token with its
	// project's name; then in one transaction the project's row, the
	// conditional update that also records the decision as made by the
	// link, the key's new value and APPROVAL_EXECUTED.
	sqlBaseLink = `SELECT a.id, a.project_id, a.key_path, a.status, p.name FROM approvals a ` +
		`JOIN projects p ON p.id = a.project_id WHERE a.token_hash = $1`
	// The one lock of the baselines, and irreducible on PostgreSQL: the
	// update holds the approval's row, and the key's and the event's
	// foreign-key checks then wait for the project's row. A project delete
	// takes those in the other order (the project, then its approvals by
	// cascade), so without the project's row taken first the two deadlock
	// and PostgreSQL aborts one after a second. SQLite runs one writer at
	// a time: no lock there.
	sqlBaseLockProject = `SELECT 1 FROM projects WHERE id = $1 FOR KEY SHARE`
	sqlBaseExecute     = `UPDATE approvals SET status = 'EXECUTED', executed_action = $1, executed_at = $2, ` +
		`decided_via = 'LINK' WHERE id = $3 AND status = 'PENDING'`
	sqlBaseSetKey = `INSERT INTO key_values (project_id, path, value, updated_at) VALUES ($1,$2,$3,$4) ` +
		`ON CONFLICT (project_id, path) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`

	// approval(id): the row, in the table's column order.
	sqlApprovalByID = `SELECT id, project_id, key_path, info, ref_id, actions, status, created_at, expires_at, token_hash, ` +
		`pin_hash, max_pin_attempts, failed_pin_attempts, executed_action, executed_at, invalidated_at, invalidation_reason ` +
		`FROM approvals WHERE id = $1`
)

// baseCreate writes what createApproval, called with the API key keyID,
// must write for one approval in q's transaction: the approval, its event
// and, when channelID is set, the River job and delivery of that channel.
func baseCreate(ctx context.Context, db *direct, q querier, projectID, keyID, channelID, keyPath, tokenHash string) error {
	now := store.Now()
	id, err := baseApproval(ctx, db, q, now, projectID, keyID, keyPath, tokenHash)
	if err != nil {
		return err
	}
	eventID, err := baseEvent(ctx, db, q, now, "APPROVAL_CREATED", projectID, id, keyPath, nil, nil)
	if err != nil || channelID == "" {
		return err
	}
	deliveryID := store.NewID()
	job := sqlBaseJobPG
	if db.dialect == store.SQLite {
		job = sqlBaseJobLite
	}
	var jobID int64
	if err := q.queryRow(ctx, db.stmt(job), `{"delivery_id":"`+deliveryID+`"}`).Scan(&jobID); err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	if _, err := q.exec(ctx, db.stmt(sqlBaseDelivery), deliveryID, channelID, eventID, now, jobID); err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return nil
}

// baseApproval inserts a pending approval row, created with the API key
// keyID, and returns its ID.
func baseApproval(ctx context.Context, db *direct, q querier, now time.Time, projectID, keyID, keyPath, tokenHash string) (string, error) {
	id := store.NewID()
	if _, err := q.exec(ctx, db.stmt(sqlBaseApproval), id, projectID, keyPath, "Deploy to production?", benchActions,
		now, now.Add(approvalTTL), tokenHash, benchPINHash, keyID); err != nil {
		return "", fmt.Errorf("insert approval: %w", err)
	}
	return id, nil
}

// baseEvent inserts an event row and returns its ID; action and via are
// an execution's.
func baseEvent(ctx context.Context, db *direct, q querier, now time.Time, typ, projectID, approvalID, keyPath string, action, via *string) (int64, error) {
	var id int64
	if err := q.queryRow(ctx, db.stmt(sqlBaseEvent), typ, now, projectID, approvalID, keyPath, action, via).Scan(&id); err != nil {
		return 0, fmt.Errorf("insert event: %w", err)
	}
	return id, nil
}

// approvalRow is an approvals row, in the table's column order.
type approvalRow struct {
	ID, ProjectID, KeyPath            string
	Info, RefID                       *string
	Actions, Status                   string
	CreatedAt, ExpiresAt              time.Time
	TokenHash                         string
	PinHash                           *string
	MaxPinAttempts, FailedPinAttempts int
	ExecutedAction                    *string
	ExecutedAt, InvalidatedAt         *time.Time
	InvalidationReason                *string
}

func scanApproval(r row) (*approvalRow, error) {
	var a approvalRow
	err := r.Scan(&a.ID, &a.ProjectID, &a.KeyPath, &a.Info, &a.RefID, &a.Actions, &a.Status, &a.CreatedAt,
		&a.ExpiresAt, &a.TokenHash, &a.PinHash, &a.MaxPinAttempts, &a.FailedPinAttempts, &a.ExecutedAction,
		&a.ExecutedAt, &a.InvalidatedAt, &a.InvalidationReason)
	if err != nil {
		return nil, fmt.Errorf("scan approval: %w", err)
	}
	return &a, nil
}

// keyRow is what sqlKeyByHash reads of an API key.
type keyRow struct {
	ID, ProjectID, Scope  string
	LastUsedAt, RevokedAt *time.Time
}

func scanKey(r row) (*keyRow, error) {
	var k keyRow
	err := r.Scan(&k.ID, &k.ProjectID, &k.Scope, &k.LastUsedAt, &k.RevokedAt)
	if err != nil {
		return nil, fmt.Errorf("scan API key: %w", err)
	}
	return &k, nil
}

// actionJSON is an approval action in the order the API's selections ask
// for its fields, which is also the order they are stored in.
type actionJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Label string `json:"label"`
	Style string `json:"style"`
}

// approvalJSON is approval(id) with approvalSelection, field for field.
type approvalJSON struct {
	ID                 string          `json:"id"`
	KeyPath            string          `json:"keyPath"`
	Info               *string         `json:"info"`
	RefID              *string         `json:"refId"`
	Status             string          `json:"status"`
	CreatedAt          string          `json:"createdAt"`
	ExpiresAt          string          `json:"expiresAt"`
	PinRequired        bool            `json:"pinRequired"`
	MaxPinAttempts     int             `json:"maxPinAttempts"`
	FailedPinAttempts  int             `json:"failedPinAttempts"`
	Actions            json.RawMessage `json:"actions"`
	ExecutedAction     *actionJSON     `json:"executedAction"`
	ExecutedAt         *string         `json:"executedAt"`
	InvalidatedAt      *string         `json:"invalidatedAt"`
	InvalidationReason *string         `json:"invalidationReason"`
}

// approvalSelection is what the read scenario asks approval(id) for.
const approvalSelection = `id keyPath info refId status createdAt expiresAt pinRequired maxPinAttempts
	failedPinAttempts actions { key value label style } executedAction { key value label style } executedAt
	invalidatedAt invalidationReason`

// toJSON renders a row as the API does: the stored actions are already
// the selection's JSON; a PENDING approval past its expiry reads EXPIRED;
// times in RFC 3339 with nanoseconds.
func (a *approvalRow) toJSON(now time.Time) (*approvalJSON, error) {
	out := &approvalJSON{ID: a.ID, KeyPath: a.KeyPath, Info: a.Info, RefID: a.RefID, Status: a.Status,
		CreatedAt: a.CreatedAt.Format(time.RFC3339Nano), ExpiresAt: a.ExpiresAt.Format(time.RFC3339Nano),
		PinRequired: a.PinHash != nil, MaxPinAttempts: a.MaxPinAttempts, FailedPinAttempts: a.FailedPinAttempts,
		Actions: json.RawMessage(a.Actions), ExecutedAt: timeJSON(a.ExecutedAt), InvalidatedAt: timeJSON(a.InvalidatedAt),
		InvalidationReason: a.InvalidationReason}
	if a.Status == "PENDING" && !now.Before(a.ExpiresAt) {
		out.Status = "EXPIRED"
	}
	if a.ExecutedAction != nil {
		var actions []actionJSON
		if err := json.Unmarshal([]byte(a.Actions), &actions); err != nil {
			return nil, fmt.Errorf("decode actions of %s: %w", a.ID, err)
		}
		for i := range actions {
			if actions[i].Key == *a.ExecutedAction {
				out.ExecutedAction = &actions[i]
			}
		}
	}
	return out, nil
}

func timeJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.RFC3339Nano)
	return &s
}
