package channelkind

import (
	"context"
	"fmt"
	"strings"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// AddInput is a new row's shared part.
type AddInput struct {
	Name    string
	URL     string
	Events  []event.Type
	Enabled bool
	// Ordering is the row's; empty: DefaultOrdering.
	Ordering Ordering
}

// UpdateInput changes the shared fields that are not nil.
type UpdateInput struct {
	Name     *string
	URL      *string
	Events   []event.Type
	Ordering *Ordering
}

// Add creates a row from in. prepare, when not nil, fills in the kind's
// own columns once the shared ones are set; a BAD_USER_INPUT it returns is
// reported with the shared fields' problems, all at once.
func (s *Service[R, P]) Add(ctx context.Context, projectID string, in AddInput, prepare func(P) error) (P, error) {
	if err := apperr.CheckTexts("projectId", projectID, "name", in.Name, s.kind.URLField, in.URL); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ManageSlack); err != nil {
		return nil, err
	}
	// Every problem at once: name, events, ordering and URL.
	var problems apperr.Problems
	name, err := s.ValidateName(in.Name)
	problems.Add(err)
	events, err := ValidateEvents(in.Events)
	problems.Add(err)
	ordering, err := ParseOrdering("ordering", string(in.Ordering))
	problems.Add(err)
	now := store.Now()
	row := P(new(R))
	*row.common() = Common{ID: store.NewID(), ProjectID: projectID, Name: name, Events: events, Enabled: in.Enabled,
		Ordering: ordering, CreatedAt: now, UpdatedAt: now}
	if err := s.Seal(row, in.URL); !problems.Add(err) {
		return nil, err
	}
	if prepare != nil {
		if err := prepare(row); !problems.Add(err) {
			return nil, err
		}
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	if err := s.store.DB(ctx).Create(row).Error; err != nil {
		return nil, s.writeError(err, name)
	}
	return row, s.Mask(row)
}

// Update changes a row's name, URL, events or ordering. more, when not
// nil, adds the kind's own changes to set before it is written.
func (s *Service[R, P]) Update(ctx context.Context, id string, in UpdateInput, more func(row P, set map[string]any) error) (P, error) {
	var problems apperr.Problems
	problems.Add(apperr.CheckText("id", id))
	if in.Name != nil {
		problems.Add(apperr.CheckText("name", *in.Name))
	}
	if in.URL != nil {
		problems.Add(apperr.CheckText(s.kind.URLField, *in.URL))
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	row, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	c := row.common()
	set := map[string]any{}
	if in.Name != nil {
		if c.Name, err = s.ValidateName(*in.Name); err != nil {
			return nil, err
		}
		set["name"] = c.Name
	}
	if in.Events != nil {
		if c.Events, err = ValidateEvents(in.Events); err != nil {
			return nil, err
		}
		set["events"] = c.Events
	}
	if in.Ordering != nil {
		if c.Ordering, err = ParseOrdering("ordering", string(*in.Ordering)); err != nil {
			return nil, err
		}
		set["ordering"] = c.Ordering
	}
	if in.URL != nil {
		if err := s.Seal(row, *in.URL); err != nil {
			return nil, err
		}
		s.SetURL(row, set)
	}
	if more != nil {
		if err := more(row, set); err != nil {
			return nil, err
		}
	}
	if len(set) == 0 {
		return row, nil
	}
	return s.Write(ctx, row, set)
}

// Toggle enables or disables a row. Enabling clears the reason for which
// deliveries disabled it (and the kind's ResetOnEnable).
func (s *Service[R, P]) Toggle(ctx context.Context, id string, enabled bool) (P, error) {
	row, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	return s.Write(ctx, row, s.EnableSet(enabled))
}

// EnableSet is the change that enables or disables a row.
func (s *Service[R, P]) EnableSet(enabled bool) map[string]any {
	set := map[string]any{"enabled": enabled}
	if enabled {
		set["disabled_reason"] = nil
		for col, v := range s.kind.ResetOnEnable {
			set[col] = v
		}
	}
	return set
}

// Remove deletes a row and its delivery log. Deliveries still queued for
// it are dropped when their turn comes. Of concurrent removals, the one
// that deleted the row succeeds; the others answer NOT_FOUND.
func (s *Service[R, P]) Remove(ctx context.Context, id string) error {
	row, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return err
	}
	c := row.common()
	return s.store.WithTx(ctx, func(ctx context.Context) error {
		// The lock order of internal/domain/project/lock.go: the project's row,
		// then the row's deliveries, then the row (the delivery worker
		// settles a delivery, then its channel).
		if err := project.LockForWrite(ctx, s.store, c.ProjectID); err != nil {
			if apperr.CodeOf(err) == apperr.CodeNotFound {
				return apperr.NotFound(s.kind.Noun)
			}
			return err
		}
		if err := project.DeleteDeliveries(ctx, s.store, s.kind.Deliveries, "channel_id = ?", c.ID); err != nil {
			return fmt.Errorf("remove %s %s: %w", s.kind.Noun, c.ID, err)
		}
		res := s.store.DB(ctx).Where("id = ?", c.ID).Delete(P(new(R)))
		if res.Error != nil {
			return fmt.Errorf("remove %s %s: %w", s.kind.Noun, c.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.NotFound(s.kind.Noun)
		}
		return nil
	})
}

// Seal validates a URL under the kind's rules and stores it encrypted in
// row.
func (s *Service[R, P]) Seal(row P, raw string) error {
	raw = strings.TrimSpace(raw)
	if err := s.kind.CheckURL(raw); err != nil {
		return err
	}
	ciphertext, version, err := s.keys.Encrypt(raw)
	if err != nil {
		return err
	}
	c, v := row.SealedURL()
	*c, *v = ciphertext, version
	return nil
}

// SetURL adds row's sealed URL to set.
func (s *Service[R, P]) SetURL(row P, set map[string]any) {
	c, v := row.SealedURL()
	set[s.kind.URLColumn], set[s.kind.KeyVersionColumn] = *c, *v
}

// Write sets the columns of set (and updated_at) on row's row, and
// returns the row as stored, masked.
func (s *Service[R, P]) Write(ctx context.Context, row P, set map[string]any) (P, error) {
	c := row.common()
	set["updated_at"] = store.Now()
	if err := s.store.DB(ctx).Model(P(new(R))).Where("id = ?", c.ID).Updates(set).Error; err != nil {
		return nil, s.writeError(err, c.Name)
	}
	updated, err := s.load(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return updated, s.Mask(updated)
}

// ValidateName trims a name and checks its length.
func (s *Service[R, P]) ValidateName(name string) (string, error) {
	return validateName(s.kind.NameNoun, name)
}
