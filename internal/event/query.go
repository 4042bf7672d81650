package event

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/page"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/store"
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

// List returns a project's events, newest first, optionally of some types
// only. The cursor is the position after an event, so events recorded
// meanwhile never shift the pages that follow.
func (q *Queries) List(ctx context.Context, projectID string, types []Type, args page.Args) (page.Page[Event], error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return page.Page[Event]{}, err
	}
	if _, err := q.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return page.Page[Event]{}, err
	}
	size, err := args.Size(DefaultPageSize)
	if err != nil {
		return page.Page[Event]{}, err
	}
	for _, t := range types {
		if !t.Valid() {
			return page.Page[Event]{}, apperr.Invalid("types", "unknown event type %q", t)
		}
	}
	db := q.store.DB(ctx).Where("project_id = ?", projectID)
	if len(types) > 0 {
		db = db.Where("type IN ?", types)
	}
	if parts, ok, err := args.Cursor(1); err != nil {
		return page.Page[Event]{}, err
	} else if ok {
		before, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return page.Page[Event]{}, page.ErrBadCursor
		}
		db = db.Where("id < ?", before)
	}
	var rows []Event
	if err := db.Order("id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return page.Page[Event]{}, fmt.Errorf("list events of %s: %w", projectID, err)
	}
	return page.Cut(rows, size, cursor, func(e Event) Event { return e }), nil
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
	var rows []Event
	err := q.store.DB(ctx).Where("project_id = ? AND approval_id IN ?", projectID, approvalIDs).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list events of %d approvals in %s: %w", len(approvalIDs), projectID, err)
	}
	for _, ev := range rows {
		byApproval[*ev.ApprovalID] = append(byApproval[*ev.ApprovalID], ev)
	}
	return byApproval, nil
}
