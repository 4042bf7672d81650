package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
)

// MaxChannelName is the longest channel name, in characters.
const MaxChannelName = 80

// Service manages a project's Slack channels. Every member reads them;
// OWNER and ADMIN members and WRITE keys change them.
type Service struct {
	store     *store.Store
	authz     *project.Authorizer
	keys      *Keyring
	validator Validator
	client    *Client
	tests     *ratelimit.Limiter // test messages per channel
}

// NewService returns the channel service. The client posts test messages;
// it must accept the same prefixes as validator.
func NewService(st *store.Store, authz *project.Authorizer, keys *Keyring, validator Validator, client *Client) *Service {
	// Test messages post to someone's Slack on demand: enough to check a
	// webhook a few times in a row, not enough to spam a channel with.
	return &Service{store: st, authz: authz, keys: keys, validator: validator, client: client,
		tests: ratelimit.New(10*time.Second, 5)}
}

// AddInput is a new channel.
type AddInput struct {
	Name       string
	WebhookURL string
	Events     []event.Type
	Enabled    bool
	// Ordering is the channel's; empty: DefaultOrdering.
	Ordering Ordering
	Interactivity
}

// UpdateInput changes the fields that are not nil.
type UpdateInput struct {
	Name       *string
	WebhookURL *string
	Events     []event.Type
	Ordering   *Ordering
	Interactivity
}

// TestResult is Slack's answer to a test message.
type TestResult struct {
	OK         bool
	StatusCode int    // 0 when no answer arrived
	Error      string // Slack's error string or the transport error
	Latency    time.Duration
}

// List returns a project's channels, oldest first.
func (s *Service) List(ctx context.Context, projectID string) ([]Channel, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ReadSettings); err != nil {
		return nil, err
	}
	var out []Channel
	if err := s.store.DB(ctx).Where("project_id = ?", projectID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list channels of project %s: %w", projectID, err)
	}
	for i := range out {
		if err := s.mask(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListPage is List, one page at a time.
func (s *Service) ListPage(ctx context.Context, projectID string, args page.Args) (page.Page[Channel], error) {
	w, err := args.Window(page.MaxSize, 1)
	if err != nil {
		return page.Page[Channel]{}, err
	}
	all, err := s.List(ctx, projectID)
	if err != nil {
		return page.Page[Channel]{}, err
	}
	return page.Slice(all, w, func(c Channel) string { return page.TimeKey(c.CreatedAt, c.ID) }), nil
}

// Get loads a channel and checks that the caller may take action in its
// project. A missing channel and another tenant's both answer NOT_FOUND.
func (s *Service) Get(ctx context.Context, id string, action project.Action) (*Channel, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	c, err := LoadChannel(ctx, s.store, id)
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("channel")
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, c.ProjectID, action); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("channel")
		}
		return nil, err
	}
	return c, s.mask(c)
}

// Add creates a channel.
func (s *Service) Add(ctx context.Context, projectID string, in AddInput) (*Channel, error) {
	if err := apperr.CheckTexts("projectId", projectID, "name", in.Name, "webhookUrl", in.WebhookURL); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ManageSlack); err != nil {
		return nil, err
	}
	// Every problem at once: name, events and URL.
	var problems apperr.Problems
	name, err := validateName(in.Name)
	problems.Add(err)
	events, err := validateEvents(in.Events)
	problems.Add(err)
	ordering, err := ParseOrdering("ordering", string(in.Ordering))
	problems.Add(err)
	now := store.Now()
	c := Channel{ID: store.NewID(), ProjectID: projectID, Name: name, Events: events, Enabled: in.Enabled, Ordering: ordering,
		CreatedAt: now, UpdatedAt: now}
	if err := s.seal(&c, in.WebhookURL); !problems.Add(err) {
		return nil, err
	}
	if err := s.sealInteractivity(&c, in.Interactivity, nil); !problems.Add(err) {
		return nil, err
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	if err := s.store.DB(ctx).Create(&c).Error; err != nil {
		return nil, s.writeError(err, name)
	}
	return &c, s.mask(&c)
}

// Update changes a channel's name, URL or event selection.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Channel, error) {
	var problems apperr.Problems
	problems.Add(apperr.CheckText("id", id))
	if in.Name != nil {
		problems.Add(apperr.CheckText("name", *in.Name))
	}
	if in.WebhookURL != nil {
		problems.Add(apperr.CheckText("webhookUrl", *in.WebhookURL))
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	set := map[string]any{}
	if in.Name != nil {
		if c.Name, err = validateName(*in.Name); err != nil {
			return nil, err
		}
		set["name"] = c.Name
	}
	if in.Events != nil {
		if c.Events, err = validateEvents(in.Events); err != nil {
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
	if in.WebhookURL != nil {
		if err := s.seal(c, *in.WebhookURL); err != nil {
			return nil, err
		}
		set["webhook_url_enc"], set["key_version"] = c.WebhookURLEnc, c.KeyVersion
	}
	if err := s.sealInteractivity(c, in.Interactivity, set); err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return c, nil
	}
	return s.update(ctx, c, set)
}

// Toggle enables or disables a channel. Enabling clears the reason for
// which deliveries disabled it.
func (s *Service) Toggle(ctx context.Context, id string, enabled bool) (*Channel, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	set := map[string]any{"enabled": enabled}
	if enabled {
		set["disabled_reason"] = nil
	}
	return s.update(ctx, c, set)
}

// Remove deletes a channel and its delivery log. Deliveries still queued
// for it are dropped when their turn comes. Of concurrent removals, the
// one that deleted the row succeeds; the others answer NOT_FOUND.
func (s *Service) Remove(ctx context.Context, id string) error {
	if err := apperr.CheckTexts("id", id); err != nil {
		return err
	}
	c, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return err
	}
	return s.store.WithTx(ctx, func(ctx context.Context) error {
		// The lock order of internal/domain/project/lock.go: the project's row,
		// then the channel's deliveries, then the channel (the delivery
		// worker settles a delivery, then its channel).
		if err := project.LockForWrite(ctx, s.store, c.ProjectID); err != nil {
			if apperr.CodeOf(err) == apperr.CodeNotFound {
				return apperr.NotFound("channel")
			}
			return err
		}
		db := s.store.DB(ctx)
		if err := db.Exec("DELETE FROM deliveries WHERE channel_id = ?", c.ID).Error; err != nil {
			return fmt.Errorf("remove the deliveries of channel %s: %w", c.ID, err)
		}
		res := db.Where("id = ?", c.ID).Delete(&Channel{})
		if res.Error != nil {
			return fmt.Errorf("remove channel %s: %w", c.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.NotFound("channel")
		}
		return nil
	})
}

// Test posts a test message to the channel now and returns Slack's answer.
// It changes nothing: a dead webhook found this way is for the user to fix.
func (s *Service) Test(ctx context.Context, id string) (*TestResult, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	if ok, wait := s.tests.Allow(c.ID); !ok {
		return nil, apperr.RateLimited(wait)
	}
	var p project.Project
	if err := s.store.DB(ctx).Where("id = ?", c.ProjectID).Take(&p).Error; err != nil {
		if store.IsNotFound(err) {
			// Deleted since the channel was read.
			return nil, apperr.NotFound("channel")
		}
		return nil, fmt.Errorf("load project %s: %w", c.ProjectID, err)
	}
	url, err := s.WebhookURL(c)
	if err != nil {
		return nil, err
	}
	body, err := TestMessage(p.Name, c.Name).JSON()
	if err != nil {
		return nil, err
	}
	r := s.client.Post(ctx, url, body)
	out := &TestResult{StatusCode: r.StatusCode, Latency: r.Latency}
	outcome := Classify(r)
	out.OK = outcome.Kind == Delivered
	out.Error = ErrorText(r, outcome)
	return out, nil
}

// WebhookURL decrypts a channel's URL for posting. Never log or show it.
func (s *Service) WebhookURL(c *Channel) (string, error) {
	url, err := s.keys.Decrypt(c.WebhookURLEnc, c.KeyVersion)
	if err != nil {
		return "", fmt.Errorf("channel %s: %w", c.ID, err)
	}
	return url, nil
}

func (s *Service) update(ctx context.Context, c *Channel, set map[string]any) (*Channel, error) {
	set["updated_at"] = store.Now()
	if err := s.store.DB(ctx).Model(&Channel{}).Where("id = ?", c.ID).Updates(set).Error; err != nil {
		return nil, s.writeError(err, c.Name)
	}
	updated, err := LoadChannel(ctx, s.store, c.ID)
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("channel")
	}
	if err != nil {
		return nil, err
	}
	return updated, s.mask(updated)
}

// seal validates a webhook URL and stores it encrypted in c.
func (s *Service) seal(c *Channel, webhookURL string) error {
	webhookURL = strings.TrimSpace(webhookURL)
	if err := s.validator.Validate(webhookURL); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return apperr.Invalid(fe.Field, "%s", fe.Message)
		}
		return err
	}
	ciphertext, version, err := s.keys.Encrypt(webhookURL)
	if err != nil {
		return err
	}
	c.WebhookURLEnc, c.KeyVersion = ciphertext, version
	return nil
}

// mask fills in the displayed form of the channel's URL.
func (s *Service) mask(c *Channel) error {
	url, err := s.WebhookURL(c)
	if err != nil {
		return err
	}
	c.Masked = Mask(url)
	return nil
}

func (s *Service) writeError(err error, name string) error {
	if store.IsDuplicate(err) {
		return apperr.Conflict("a channel named %q already exists in this project", name)
	}
	return fmt.Errorf("save channel: %w", err)
}

func validateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxChannelName {
		return "", apperr.Invalid("name", "channel name must be 1 to %d characters", MaxChannelName)
	}
	return name, nil
}

// validateEvents requires at least one known event type and returns the
// selection without duplicates, in event.AllTypes order.
func validateEvents(types []event.Type) (EventSet, error) {
	for _, t := range types {
		if !t.Valid() {
			return nil, apperr.Invalid("events", "unknown event type %q", t)
		}
	}
	var out EventSet
	for _, t := range event.AllTypes {
		if slices.Contains(types, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, apperr.Invalid("events", "select at least one event type")
	}
	return out, nil
}
