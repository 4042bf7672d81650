package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/ottr/backend/internal/approval"
	"github.com/ottr/backend/internal/auth"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/notify"
	"github.com/ottr/backend/internal/store"
)

// The SQL the server sends, statement for statement, as PostgreSQL logs it
// (log_statement = all) while the server answers createApproval,
// approvalLink, executeApproval and approval(id). The baselines send the
// same statements with pgx; a change in what the server sends must be
// copied here, and the smoke test's row counts catch one that writes
// different rows.
const (
	// The API key of every authenticated request.
	sqlKeyByHash = `SELECT ` + auth.KeyColumns + ` FROM api_keys WHERE secret_hash = $1`

	// createApproval, in one transaction: make sure the key exists, the
	// approval, its APPROVAL_CREATED event.
	sqlEnsureKey = `INSERT INTO "key_values" ("project_id","path","value","updated_at") VALUES ($1,$2,$3,$4) ` +
		`ON CONFLICT ("project_id","path") DO NOTHING`
	sqlInsertApproval = `INSERT INTO "approvals" ("id","project_id","key_path","info","ref_id","actions","status",` +
		`"created_at","expires_at","token_hash","pin_hash","max_pin_attempts","failed_pin_attempts","executed_action",` +
		`"executed_at","invalidated_at","invalidation_reason") ` +
		`VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`
	sqlInsertEvent = `INSERT INTO "events" ("type","occurred_at","project_id","approval_id","key_path","action",` +
		`"attempts","max_attempts","reason") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING "id"`
	// Around every event on PostgreSQL: the lock that makes events commit
	// in ID order before it, the notification of its ID after it.
	sqlEventLock   = `SELECT pg_advisory_xact_lock($1)`
	sqlEventNotify = `SELECT pg_notify($1, $2)`
	// After every event: the project's enabled Slack channels; for each
	// that selected the event's type a River job (River's own statements)
	// and a delivery row, all rows in one INSERT.
	sqlChannels        = `SELECT * FROM "slack_channels" WHERE project_id = $1 AND enabled ORDER BY id`
	sqlDeliveryColumns = `INSERT INTO "deliveries" ("id","channel_id","event_id","status","attempts","last_status_code",` +
		`"last_error","next_attempt_at","delivered_at","created_at","job_id") VALUES `

	// approvalLink: the approval of the token, its project's name.
	sqlApprovalByToken = `SELECT ` + approval.RowColumns + ` FROM approvals WHERE token_hash = $1`
	sqlProjectName     = `SELECT "name" FROM "projects" WHERE id = $1`

	// executeApproval: the approval of the token again, then in one
	// transaction the conditional update, the key, APPROVAL_EXECUTED.
	sqlExecute = `UPDATE approvals SET status = $1, executed_action = $2, executed_at = $3
			WHERE id = $4 AND status = $5 AND expires_at > $6 AND failed_pin_attempts < max_pin_attempts`
	sqlSetKey = `INSERT INTO "key_values" ("project_id","path","value","updated_at") VALUES ($1,$2,$3,$4) ` +
		`ON CONFLICT ("project_id","path") DO UPDATE SET "value"="excluded"."value","updated_at"="excluded"."updated_at"`

	// approval(id).
	sqlApprovalByID = `SELECT ` + approval.RowColumns + ` FROM approvals WHERE id = $1`
)

// recordEvent sends what event.Recorder sends for one event inside the
// caller's transaction: on PostgreSQL the event-log lock, the event, its
// notification; on SQLite the event alone; then on both the deliveries to
// the project's Slack channels.
func recordEvent(ctx context.Context, db *direct, q querier, now time.Time, typ, projectID, approvalID, keyPath string, action *string) error {
	pg := db.dialect == store.Postgres
	var id int64
	err := q.queryRow(ctx, db.stmt(sqlInsertEvent), typ, now, projectID, approvalID, keyPath, action, nil, nil, nil).Scan(&id)
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	if pg {
		if _, err := q.exec(ctx, sqlEventNotify, event.ChannelName, strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("notify event: %w", err)
		}
	}
	return enqueueDeliveries(ctx, db, q, now, typ, projectID, id)
}

// enqueueDeliveries sends what notify.Dispatcher.Enqueue sends for an
// event: its channels, then a job and a delivery for each that selected
// its type.
func enqueueDeliveries(ctx context.Context, db *direct, q querier, now time.Time, typ, projectID string, eventID int64) error {
	var channels []string
	err := q.query(ctx, func(r row) error {
		var (
			id, project, name, url, events string
			keyVersion                     int
			enabled                        bool
			disabledReason, status, last   *string
			created, updated               time.Time
			lastAt                         *time.Time
		)
		if err := r.Scan(&id, &project, &name, &url, &keyVersion, &events, &enabled, &disabledReason, &created, &updated,
			&lastAt, &status, &last); err != nil {
			return err
		}
		if slices.Contains(strings.Split(events, ","), typ) {
			channels = append(channels, id)
		}
		return nil
	}, db.stmt(sqlChannels), projectID)
	if err != nil || len(channels) == 0 {
		return err
	}
	deliveries := make([]string, len(channels))
	jobs := make([]river.InsertManyParams, len(channels))
	for i := range channels {
		deliveries[i] = store.NewID()
		jobs[i] = river.InsertManyParams{Args: notify.JobArgs(deliveries[i])}
	}
	jobIDs, err := db.enqueue(ctx, q, jobs)
	if err != nil {
		return fmt.Errorf("enqueue deliveries: %w", err)
	}
	insert := sqlDeliveryColumns
	var args []any
	for i, ch := range channels {
		if i > 0 {
			insert += ","
		}
		n := len(args)
		insert += fmt.Sprintf("($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11)
		args = append(args, deliveries[i], ch, eventID, "PENDING", 0, nil, nil, nil, nil, now, jobIDs[i])
	}
	if _, err := q.exec(ctx, db.stmt(insert), args...); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	return nil
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
