package slack

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/domain/channelkind"
	"github.com/ottr/backend/internal/platform/store"
)

// Delivery statuses, shared by deliveries and a channel's last delivery.
const (
	StatusPending   = "PENDING"
	StatusDelivered = "DELIVERED"
	StatusRetrying  = "RETRYING"
	StatusFailed    = "FAILED"
	StatusSkipped   = "SKIPPED"
)

// Channel is one incoming webhook of a project: a row of slack_channels.
// The webhook URL is only ever held encrypted; Masked is filled in when
// the channel is loaded through a Service.
type Channel struct {
	channelkind.Common
	WebhookURLEnc string `gorm:"column:webhook_url_enc"`
	KeyVersion    int
	// The Slack app's signing secret, encrypted like the webhook URL;
	// nil: the channel's messages have no buttons.
	SigningSecretEnc  *string `gorm:"column:signing_secret_enc"`
	SigningKeyVersion *int
	// AllowedSlackUserIDs is a comma-separated list; nil: anyone.
	AllowedSlackUserIDs *string `gorm:"column:allowed_slack_user_ids"`
}

// TableName pins the table name.
func (Channel) TableName() string { return "slack_channels" }

// SealedURL points at the encrypted webhook URL and its key's version.
func (c *Channel) SealedURL() (*string, *int) { return &c.WebhookURLEnc, &c.KeyVersion }

// EventSet is a channel's event selection, stored as a comma-separated
// list in event.AllTypes order.
type EventSet = channelkind.EventSet

// LoadChannel reads a channel row, or returns an error satisfying
// store.IsNotFound.
func LoadChannel(ctx context.Context, st *store.Store, id string) (*Channel, error) {
	var c Channel
	if err := st.DB(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("load channel %s: %w", id, err)
	}
	return &c, nil
}

// EnabledOf returns the enabled channels of the given projects, by
// project, for the delivery fan-out to match events against. A project
// has a handful of channels, so their selections are matched in Go
// rather than in SQL. In a transaction it locks the channels' rows FOR
// KEY SHARE, so that a channel cannot be removed under the deliveries
// the transaction adds for it, and one removed meanwhile is not returned.
func EnabledOf(ctx context.Context, st *store.Store, projectIDs []string) (map[string][]Channel, error) {
	var all []Channel
	q := st.DB(ctx).Where("project_id IN ? AND enabled", projectIDs).Order("id")
	if store.InTx(ctx) {
		q = q.Scopes(st.RowLock(store.LockKeyShare))
	}
	if err := q.Find(&all).Error; err != nil {
		return nil, fmt.Errorf("load the enabled channels of %d projects: %w", len(projectIDs), err)
	}
	byProject := make(map[string][]Channel, len(projectIDs))
	for _, c := range all {
		byProject[c.ProjectID] = append(byProject[c.ProjectID], c)
	}
	return byProject, nil
}

// OutcomeStmt is the statement that sets a channel's last delivery and,
// for a dead webhook (disableReason not empty), disables it, for the
// dispatcher to run with the delivery's own writes as one unit. It touches
// neither the name nor the URL, so it never races a user's edit.
func OutcomeStmt(channelID, status, lastError, disableReason string) store.Stmt {
	now := store.Now()
	if disableReason != "" {
		return store.Stmt{
			SQL: "UPDATE slack_channels SET last_delivery_at = ?, last_delivery_status = ?, last_error = ?, " +
				"enabled = ?, disabled_reason = ?, updated_at = ? WHERE id = ?",
			Args: []any{now, status, store.NullIfEmpty(lastError), false, disableReason, now, channelID},
		}
	}
	return store.Stmt{
		SQL:  "UPDATE slack_channels SET last_delivery_at = ?, last_delivery_status = ?, last_error = ? WHERE id = ?",
		Args: []any{now, status, store.NullIfEmpty(lastError), channelID},
	}
}
