package event

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/eventlog"
)

// The events table read as an ordered log (docs/design/event-log.md).
//
// Events are ordered by Position: the writing transaction's ID (xid), then
// the event ID. Writers take no lock, so on PostgreSQL event IDs may commit
// out of order; but a transaction ID below the oldest one still running
// (the snapshot's xmin, the horizon) belongs to a transaction that has
// ended, and every transaction that starts later gets a larger one. So
// the events below the horizon are final: no event can appear among them
// later. Readers hand out only those, in Position order, and "the events
// after position p" is a stable answer: a later read returns the same
// events followed by newer ones. Committed events at or above the horizon
// are held back until the transactions before them end.
//
// On SQLite one writer commits at a time, in ID order; xid is always 0 and
// everything committed is below the horizon.

//
// The dialect parts (the horizon, announcements, the fan-out lock) are the
// store's event-log driver's (store.EventLog, package eventlog).

// Position is an event's place in the log.
type Position = eventlog.Position

// Position is the event's place in the log.
func (e *Event) Position() Position { return Position{Xid: e.Xid, ID: e.ID} }

// After returns up to limit events of a project after position after,
// oldest first, of the given types (all types when types is empty). Only
// final events are returned (below the horizon).
func After(ctx context.Context, s *store.Store, projectID string, after Position, types []Type, limit int) ([]Event, error) {
	db := s.DB(ctx).Where("project_id = ? AND (xid, id) > (?, ?)", projectID, after.Xid, after.ID).Scopes(s.EventLog().Final)
	if len(types) > 0 {
		db = db.Where("type IN ?", types)
	}
	var events []Event
	if err := db.Order("xid, id").Limit(limit).Find(&events).Error; err != nil {
		return nil, fmt.Errorf("read events of project %s after %d/%d: %w", projectID, after.Xid, after.ID, err)
	}
	return events, nil
}

// horizonRow is an event read with the horizon of the statement's
// snapshot.
type horizonRow struct {
	Event   `gorm:"embedded"`
	Horizon int64
}

// Since returns up to limit final events of every project after position
// after, oldest first. held reports committed events after them that are
// not final yet: a transaction older than theirs is still open, and
// reading again once it has ended returns them.
func Since(ctx context.Context, s *store.Store, after Position, limit int) (events []Event, held bool, err error) {
	var rows []horizonRow
	err = s.EventLog().Since(s.DB(ctx), after, limit).Scan(&rows).Error
	if err != nil {
		return nil, false, fmt.Errorf("read events after %d/%d: %w", after.Xid, after.ID, err)
	}
	events = make([]Event, 0, len(rows))
	for _, r := range rows {
		if r.Xid >= r.Horizon {
			return events, true, nil // and so is every row after it
		}
		events = append(events, r.Event)
	}
	return events, false, nil
}

// LastFinal returns the position of the last final event, the zero
// Position when there is none.
func LastFinal(ctx context.Context, s *store.Store) (Position, error) {
	db := s.DB(ctx).Model(&Event{}).Select("xid, id").Scopes(s.EventLog().Final)
	var last []Position
	if err := db.Order("xid DESC, id DESC").Limit(1).Scan(&last).Error; err != nil {
		return Position{}, fmt.Errorf("read the last event's position: %w", err)
	}
	if len(last) == 0 {
		return Position{}, nil
	}
	return last[0], nil
}

// PositionOf returns the position of a project's event id; found is false
// when the project has no such event.
func PositionOf(ctx context.Context, s *store.Store, projectID string, id int64) (pos Position, found bool, err error) {
	var rows []Position
	err = s.DB(ctx).Model(&Event{}).Select("xid, id").Where("project_id = ? AND id = ?", projectID, id).Limit(1).Scan(&rows).Error
	if err != nil {
		return Position{}, false, fmt.Errorf("read the position of event %d: %w", id, err)
	}
	if len(rows) == 0 {
		return Position{}, false, nil
	}
	return rows[0], true, nil
}
