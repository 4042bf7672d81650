package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
)

// The kinds of a delivery, as the delivery log names them.
const (
	LogSlack    = "SLACK"
	LogWebhook  = "WEBHOOK"
	LogCallback = "CALLBACK"
)

// LogKinds are every kind of the delivery log, in its filter's order.
var LogKinds = []string{LogSlack, LogWebhook, LogCallback}

// LogEntry is a delivery of any kind: a row of the project's delivery log.
type LogEntry struct {
	Delivery
	// Kind is LogSlack, LogWebhook or LogCallback.
	Kind string
}

// LogFilter narrows a project's delivery log; every field set must match.
type LogFilter struct {
	// Kinds, when not nil, are the kinds listed; empty is refused.
	Kinds     []string
	Status    *string
	ChannelID *string
}

// logColumns are the columns every kind's deliveries table has, in one
// order, so that the three can be one list (UNION ALL).
const logColumns = "id, channel_id, event_id, status, attempts, unknown_attempts, last_status_code, last_error, " +
	"next_attempt_at, delivered_at, created_at, job_id, ordered_by"

// logSources are, per kind, its deliveries table and the query of the ids
// of a project's channels of that kind (a callback's channel is its
// approval).
var logSources = map[string]struct{ table, channels string }{
	LogSlack:    {"deliveries", "SELECT id FROM slack_channels WHERE project_id = ?"},
	LogWebhook:  {"webhook_deliveries", "SELECT id FROM webhook_endpoints WHERE project_id = ?"},
	LogCallback: {"callback_deliveries", "SELECT id FROM approvals WHERE project_id = ?"},
}

// ProjectDeliveryLog lists the deliveries of every kind of a project (to
// its Slack channels, its webhook endpoints and its approvals' callbacks),
// newest first, filtered by f, to whoever may read the project's settings.
// Delivery ids are UUIDv7, unique across the kinds and time-ordered, so
// the one list pages by id as each kind's list does.
func (d *Dispatcher) ProjectDeliveryLog(ctx context.Context, projectID string, f LogFilter, args page.Args) (page.Page[LogEntry], error) {
	var none page.Page[LogEntry]
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return none, err
	}
	if _, err := d.authz.Authorize(ctx, projectID, project.ReadSettings); err != nil {
		return none, err
	}
	kinds := LogKinds
	if f.Kinds != nil {
		if len(f.Kinds) == 0 {
			return none, apperr.Invalid("kinds", "kinds must name at least one kind, or be left out for every kind")
		}
		kinds = nil
		for _, k := range LogKinds {
			if slices.Contains(f.Kinds, k) {
				kinds = append(kinds, k)
			}
		}
		for _, k := range f.Kinds {
			if !slices.Contains(LogKinds, k) {
				return none, apperr.Invalid("kinds", "unknown delivery kind %q", k)
			}
		}
	}
	if f.ChannelID != nil {
		if err := apperr.CheckText("channelId", *f.ChannelID); err != nil {
			return none, err
		}
		if len(*f.ChannelID) > 100 {
			return none, apperr.Invalid("channelId", "channelId is not the id of a channel")
		}
	}
	if f.Status != nil {
		switch *f.Status {
		case slack.StatusPending, slack.StatusDelivered, slack.StatusRetrying, slack.StatusFailed, slack.StatusSkipped:
		default:
			return none, apperr.Invalid("status", "unknown delivery status %q", *f.Status)
		}
	}
	w, err := args.Window(DefaultDeliveriesPageSize, 1)
	if err != nil {
		return none, err
	}
	// Each kind's branch carries the filters, so that each reads its own
	// indexes (channel_id, and id for the order) before the union.
	var parts []string
	var vars []any
	for _, k := range kinds {
		src := logSources[k]
		q := "SELECT '" + k + "' AS kind, " + logColumns + " FROM " + src.table + " WHERE channel_id IN (" + src.channels + ")"
		vars = append(vars, projectID)
		if f.ChannelID != nil {
			q += " AND channel_id = ?"
			vars = append(vars, *f.ChannelID)
		}
		if f.Status != nil {
			q += " AND status = ?"
			vars = append(vars, *f.Status)
		}
		parts = append(parts, q)
	}
	union := d.store.DB(ctx).Raw(strings.Join(parts, " UNION ALL "), vars...)
	db := d.store.DB(ctx).Table("(?) AS delivery_log", union)
	var total *int
	if w.Total {
		var n int64
		if err := db.Session(&gorm.Session{}).Count(&n).Error; err != nil {
			return none, fmt.Errorf("count the delivery log of project %s: %w", projectID, err)
		}
		count := int(n)
		total = &count
	}
	var rows []LogEntry
	if err := page.Fetch(db, w, page.Order{{Name: "id", Desc: true}}, textCursor(w.After), textCursor(w.Before)).Find(&rows).Error; err != nil {
		return none, fmt.Errorf("list the delivery log of project %s: %w", projectID, err)
	}
	p := page.Cut(rows, w, func(e LogEntry) string { return page.Encode(e.ID) }, func(e LogEntry) LogEntry { return e })
	p.TotalCount = total
	return p, nil
}

// CallbackDelivery returns one callback delivery to whoever may read its
// approval and the project's settings, as Approval.callbackDeliveries
// does; another tenant's answers NOT_FOUND like a missing one.
func (d *Dispatcher) CallbackDelivery(ctx context.Context, approvals *approval.Service, id string) (*Delivery, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	del, err := d.loadDeliveryIn(ctx, tablesOf(kindCallback), id)
	if err != nil {
		return nil, err
	}
	a, err := approvals.Get(ctx, del.ChannelID)
	if err == nil {
		_, err = d.authz.Authorize(ctx, a.ProjectID, project.ReadSettings)
	}
	if err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("delivery")
		}
		return nil, err
	}
	return del, nil
}
