package slack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// PutInput sets a channel by name: the fields that are not nil. A new
// channel needs WebhookURL; its events default to every type and it
// starts enabled.
type PutInput struct {
	WebhookURL *string
	Events     []event.Type
	Enabled    *bool
}

// Put creates the project's channel called name, or brings the one that
// exists to in, so that a setup script run twice ends in the same state:
// what already matches is not written again (a stored URL is compared
// decrypted), and a channel that matches entirely is not touched.
// created tells which happened.
func (s *Service) Put(ctx context.Context, projectID, name string, in PutInput) (c *Channel, created bool, err error) {
	var problems apperr.Problems
	problems.Add(apperr.CheckTexts("projectId", projectID, "name", name))
	if in.WebhookURL != nil {
		problems.Add(apperr.CheckText("webhookUrl", *in.WebhookURL))
	}
	if err := problems.Err(); err != nil {
		return nil, false, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ManageSlack); err != nil {
		return nil, false, err
	}
	if name, err = s.ValidateName(name); err != nil {
		return nil, false, err
	}
	// Two scripts putting the same new name at once: one creates it, the
	// other finds the name taken and updates instead.
	for range 2 {
		existing, err := s.byName(ctx, projectID, name)
		if err != nil {
			return nil, false, err
		}
		if existing != nil {
			c, err := s.bring(ctx, existing, in)
			return c, false, err
		}
		add := AddInput{Name: name, Events: in.Events, Enabled: in.Enabled == nil || *in.Enabled}
		if in.Events == nil {
			add.Events = event.AllTypes
		}
		if in.WebhookURL == nil {
			problems.Add(apperr.Invalid("webhookUrl", "webhookUrl is required for a new channel"))
			if _, err := validateEvents(add.Events); err != nil {
				problems.Add(err)
			}
			return nil, false, problems.Err()
		}
		add.WebhookURL = *in.WebhookURL
		c, err := s.Add(ctx, projectID, add)
		if apperr.CodeOf(err) == apperr.CodeConflict {
			continue
		}
		return c, err == nil, err
	}
	return nil, false, apperr.Conflict("the channel %q changed while it was being set; try again", name)
}

// bring updates c to in, writing only what differs.
func (s *Service) bring(ctx context.Context, c *Channel, in PutInput) (*Channel, error) {
	var problems apperr.Problems
	set := map[string]any{}
	if in.Events != nil {
		events, err := validateEvents(in.Events)
		if problems.Add(err) && !slices.Equal(events, c.Events) {
			set["events"] = events
		}
	}
	if in.WebhookURL != nil {
		current, err := s.WebhookURL(c)
		if err != nil {
			return nil, err
		}
		if current != strings.TrimSpace(*in.WebhookURL) {
			next := *c
			err := s.Seal(&next, *in.WebhookURL)
			if !problems.Add(err) {
				return nil, err
			}
			if err == nil {
				s.SetURL(&next, set)
			}
		}
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	if in.Enabled != nil && *in.Enabled != c.Enabled {
		maps.Copy(set, s.EnableSet(*in.Enabled))
	}
	if len(set) == 0 {
		return c, nil
	}
	return s.Write(ctx, c, set)
}

// byName is the project's channel called name, masked, or nil.
func (s *Service) byName(ctx context.Context, projectID, name string) (*Channel, error) {
	var found []Channel
	if err := s.store.DB(ctx).Where("project_id = ? AND name = ?", projectID, name).Limit(1).Find(&found).Error; err != nil {
		return nil, fmt.Errorf("find channel %q of project %s: %w", name, projectID, err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	return &found[0], s.Mask(&found[0])
}

// ByName returns the project's channel called name, for a caller who may
// read the project's settings; NOT_FOUND when there is none.
func (s *Service) ByName(ctx context.Context, projectID, name string, action project.Action) (*Channel, error) {
	if err := apperr.CheckTexts("projectId", projectID, "name", name); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, action); err != nil {
		return nil, err
	}
	c, err := s.byName(ctx, projectID, name)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, apperr.NotFound("channel")
	}
	return c, nil
}
