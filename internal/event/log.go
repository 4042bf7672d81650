package event

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/store"
)

// The events table read as an ordered log. Because events commit in ID
// order (see Recorder), "the events after ID n" is a stable answer: a later
// read returns the same events followed by newer ones.

// After returns up to limit events of a project with an ID above afterID,
// oldest first, of the given types (all types when types is empty).
func After(ctx context.Context, s *store.Store, projectID string, afterID int64, types []Type, limit int) ([]Event, error) {
	db := s.DB(ctx).Where("project_id = ? AND id > ?", projectID, afterID)
	if len(types) > 0 {
		db = db.Where("type IN ?", types)
	}
	var events []Event
	if err := db.Order("id").Limit(limit).Find(&events).Error; err != nil {
		return nil, fmt.Errorf("read events of project %s after %d: %w", projectID, afterID, err)
	}
	return events, nil
}

// Since returns up to limit events of every project with an ID above
// afterID, oldest first.
func Since(ctx context.Context, s *store.Store, afterID int64, limit int) ([]Event, error) {
	var events []Event
	if err := s.DB(ctx).Where("id > ?", afterID).Order("id").Limit(limit).Find(&events).Error; err != nil {
		return nil, fmt.Errorf("read events after %d: %w", afterID, err)
	}
	return events, nil
}

// LastID returns the highest event ID, 0 when there is none.
func LastID(ctx context.Context, s *store.Store) (int64, error) {
	var id *int64
	if err := s.DB(ctx).Model(&Event{}).Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("read the last event ID: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}
