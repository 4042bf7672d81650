package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/channelkind"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
)

// Endpoint is one webhook endpoint of a project: a row of
// webhook_endpoints. Its URL and secrets are only ever held encrypted;
// Masked is filled in when the endpoint is loaded through a Service.
type Endpoint struct {
	channelkind.Common
	URLEnc                   string `gorm:"column:url_enc"`
	KeyVersion               int
	SecretEnc                string
	SecretKeyVersion         int
	PreviousSecretEnc        *string
	PreviousSecretKeyVersion *int
	PreviousSecretExpiresAt  *time.Time
	FailedInARow             int
	FailingSince             *time.Time
}

// TableName pins the table name.
func (Endpoint) TableName() string { return "webhook_endpoints" }

// SealedURL points at the encrypted URL and its key's version.
func (e *Endpoint) SealedURL() (*string, *int) { return &e.URLEnc, &e.KeyVersion }

// EnabledOf returns the enabled endpoints of the given projects, by
// project, for the delivery fan-out to match events against.
func EnabledOf(ctx context.Context, st *store.Store, projectIDs []string) (map[string][]Endpoint, error) {
	var all []Endpoint
	if err := st.DB(ctx).Where("project_id IN ? AND enabled", projectIDs).Order("id").Find(&all).Error; err != nil {
		return nil, fmt.Errorf("load the enabled webhook endpoints of %d projects: %w", len(projectIDs), err)
	}
	byProject := make(map[string][]Endpoint, len(projectIDs))
	for _, e := range all {
		byProject[e.ProjectID] = append(byProject[e.ProjectID], e)
	}
	return byProject, nil
}

// OutcomeStmt records a delivery's settled attempt on its endpoint: the
// last delivery, the failure streak that sustained failure is judged by
// (delivered resets it; failed counts a delivery given up on; any other
// failed attempt starts the clock), and, with disableReason, that the
// endpoint is disabled. It touches neither the name, the URL nor the
// secrets, so it never races a user's edit.
func OutcomeStmt(endpointID, status, lastError, disableReason string, gaveUp bool, now time.Time) store.Stmt {
	set := "last_delivery_at = ?, last_delivery_status = ?, last_error = ?"
	args := []any{now, status, store.NullIfEmpty(lastError)}
	switch {
	case status == slack.StatusDelivered:
		set += ", failed_in_a_row = 0, failing_since = NULL"
	case gaveUp:
		set += ", failed_in_a_row = failed_in_a_row + 1, failing_since = COALESCE(failing_since, ?)"
		args = append(args, now)
	default:
		set += ", failing_since = COALESCE(failing_since, ?)"
		args = append(args, now)
	}
	if disableReason != "" {
		set += ", enabled = ?, disabled_reason = ?, updated_at = ?"
		args = append(args, false, disableReason, now)
	}
	return store.Stmt{SQL: "UPDATE webhook_endpoints SET " + set + " WHERE id = ?", Args: append(args, endpointID)}
}
