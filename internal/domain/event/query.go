package event

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/store"
)

// DefaultPageSize is the size of a page of events when none is asked for.
const DefaultPageSize = 50

// Queries reads the events of the projects a caller may see.
type Queries struct {
	store *store.Store
	authz *project.Authorizer
}

// NewQueries returns the event queries.
func NewQueries(s *store.Store, authz *project.Authorizer) *Queries {
	return &Queries{store: s, authz: authz}
}

// ListFilter narrows a list of events; every field set must match.
type ListFilter struct {
	Types      []Type
	KeyPath    *string
	ApprovalID *string
	// OccurredAfter and OccurredBefore bound occurredAt: at or after, and
	// strictly before.
	OccurredAfter  *time.Time
	OccurredBefore *time.Time
}

// maxKeyPathLen is the longest key path (approval.MaxPathLen).
const maxKeyPathLen = 200

// List returns a project's events, newest first, filtered by f. The cursor
// is the position after an event, so events recorded meanwhile never shift
// the pages that follow.
func (q *Queries) List(ctx context.Context, projectID string, f ListFilter, args page.Args) (page.Page[Event], error) {
	var none page.Page[Event]
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return none, err
	}
	if _, err := q.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return none, err
	}
	w, err := args.Window(DefaultPageSize, 1)
	if err != nil {
		return none, err
	}
	after, err := idCursor("after", w.After)
	if err != nil {
		return none, err
	}
	before, err := idCursor("before", w.Before)
	if err != nil {
		return none, err
	}
	for _, t := range f.Types {
		if !t.Valid() {
			return none, apperr.Invalid("types", "unknown event type %q", t)
		}
	}
	db := q.store.DB(ctx).Where("project_id = ?", projectID)
	if len(f.Types) > 0 {
		db = db.Where("type IN ?", f.Types)
	}
	if f.KeyPath != nil {
		if err := apperr.CheckTextLen("keyPath", *f.KeyPath, maxKeyPathLen); err != nil {
			return none, err
		}
		db = db.Where("key_path = ?", *f.KeyPath)
	}
	if f.ApprovalID != nil {
		if err := apperr.CheckTextLen("approvalId", *f.ApprovalID, maxKeyPathLen); err != nil {
			return none, err
		}
		db = db.Where("approval_id = ?", *f.ApprovalID)
	}
	if f.OccurredAfter != nil {
		db = db.Where("occurred_at >= ?", f.OccurredAfter.UTC())
	}
	if f.OccurredBefore != nil {
		db = db.Where("occurred_at < ?", f.OccurredBefore.UTC())
	}
	var total *int
	if w.Total {
		n, err := page.Count(db, &Event{})
		if err != nil {
			return none, fmt.Errorf("count events of %s: %w", projectID, err)
		}
		total = &n
	}
	var rows []Event
	if err := page.Fetch(db, w, page.Order{{Name: "id", Desc: true}}, after, before).Find(&rows).Error; err != nil {
		return none, fmt.Errorf("list events of %s: %w", projectID, err)
	}
	p := page.Cut(rows, w, cursor, func(e Event) Event { return e })
	p.TotalCount = total
	return p, nil
}

func idCursor(field string, parts []string) ([]any, error) {
	if parts == nil {
		return nil, nil
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return nil, page.BadCursor(field)
	}
	return []any{id}, nil
}

func cursor(e Event) string { return page.Encode(strconv.FormatInt(e.ID, 10)) }

// Get returns an event of a project the caller may read; another
// tenant's answers NOT_FOUND like a missing one.
func (q *Queries) Get(ctx context.Context, id int64) (*Event, error) {
	var ev Event
	if err := q.store.DB(ctx).Where("id = ?", id).Take(&ev).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("event")
		}
		return nil, fmt.Errorf("load event %d: %w", id, err)
	}
	if _, err := q.authz.Authorize(ctx, ev.ProjectID, project.Read); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("event")
		}
		return nil, err
	}
	return &ev, nil
}

// GetMany returns, in one query, the events of ids the caller may read
// (for the events of a page of deliveries); one that is missing or of
// another tenant is absent from the map.
func (q *Queries) GetMany(ctx context.Context, ids []int64) (map[int64]*Event, error) {
	out := make(map[int64]*Event, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Event
	if err := q.store.DB(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load %d events: %w", len(ids), err)
	}
	readable := map[string]bool{}
	for i := range rows {
		ok, seen := readable[rows[i].ProjectID]
		if !seen {
			_, err := q.authz.Authorize(ctx, rows[i].ProjectID, project.Read)
			if err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
				return nil, err
			}
			ok = err == nil
			readable[rows[i].ProjectID] = ok
		}
		if ok {
			out[rows[i].ID] = &rows[i]
		}
	}
	return out, nil
}

// ForApproval returns the events of one approval of a project, oldest
// first.
func (q *Queries) ForApproval(ctx context.Context, projectID, approvalID string) ([]Event, error) {
	if err := apperr.CheckTexts("projectId", projectID, "approvalId", approvalID); err != nil {
		return nil, err
	}
	events, err := q.ForApprovals(ctx, projectID, []string{approvalID})
	if err != nil {
		return nil, err
	}
	return events[approvalID], nil
}

// ForApprovals returns the events of several approvals of a project, each
// approval's oldest first, in one query (for a page of approvals).
func (q *Queries) ForApprovals(ctx context.Context, projectID string, approvalIDs []string) (map[string][]Event, error) {
	return q.forApprovals(ctx, projectID, approvalIDs, eventsOfApprovals, (*Event).fields)
}

// forApprovals reads with read the events of approvalIDs in projectID,
// scanning each row into dests(event).
func (q *Queries) forApprovals(ctx context.Context, projectID string, approvalIDs []string, read store.ListQuery, dests func(*Event) []any) (map[string][]Event, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := q.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return nil, err
	}
	byApproval := make(map[string][]Event, len(approvalIDs))
	if len(approvalIDs) == 0 {
		return byApproval, nil
	}
	// The ids are one array parameter on PostgreSQL (store.ListQuery);
	// the rows are scanned without reflection.
	built, args := q.store.WithList(read, []any{projectID}, approvalIDs)
	err := q.store.Each(ctx, built, args, func(scan func(...any) error) error {
		var ev Event
		if err := scan(dests(&ev)...); err != nil {
			return err
		}
		byApproval[*ev.ApprovalID] = append(byApproval[*ev.ApprovalID], ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events of %d approvals in %s: %w", len(approvalIDs), projectID, err)
	}
	return byApproval, nil
}

// SummariesForApprovals is ForApprovals for a page that shows of each event
// only what every event has: of each, only ID, Type, OccurredAt, ProjectID
// and ApprovalID are read; the rest are left zero. A dashboard's list of
// approvals shows no more, and reads three of the sixteen columns.
func (q *Queries) SummariesForApprovals(ctx context.Context, projectID string, approvalIDs []string) (map[string][]Event, error) {
	return q.forApprovals(ctx, projectID, approvalIDs, summariesOfApprovals, func(ev *Event) []any {
		ev.ProjectID = projectID // the read's own condition
		return []any{&ev.ID, &ev.Type, &ev.OccurredAt, &ev.ApprovalID}
	})
}

// summariesOfApprovals is SummariesForApprovals' read.
var summariesOfApprovals = store.NewListQuery(`SELECT id, type, occurred_at, approval_id` +
	` FROM events WHERE project_id = ? AND approval_id IN ? ORDER BY id`)

// eventsOfApprovals is ForApprovals' read.
var eventsOfApprovals = store.NewListQuery(`SELECT ` + eventColumns +
	` FROM events WHERE project_id = ? AND approval_id IN ? ORDER BY id`)

// eventColumns are the stored columns of an event, in the order of fields.
const eventColumns = `id, xid, type, occurred_at, project_id, approval_id, key_path, action, attempts, max_attempts, ` +
	`reason, decided_via, decided_by_user_id, decided_by_slack_user_id, decided_by_slack_user_name, comment`

// fields are the event's stored fields in the order of eventColumns, for a
// scan.
func (e *Event) fields() []any {
	return []any{&e.ID, &e.Xid, &e.Type, &e.OccurredAt, &e.ProjectID, &e.ApprovalID, &e.KeyPath, &e.Action,
		&e.Attempts, &e.MaxAttempts, &e.Reason, &e.DecidedVia, &e.DecidedByUserID, &e.DecidedBySlackUserID,
		&e.DecidedBySlackUserName, &e.Comment}
}
