package slack

import (
	"context"
	"errors"

	"github.com/ottr/backend/internal/domain/channelkind"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// MaxChannelName is the longest channel name, in characters.
const MaxChannelName = channelkind.MaxName

// Service manages a project's Slack channels. Every member reads them;
// OWNER and ADMIN members and WRITE keys change them. What every kind of
// channel does (list, get, toggle, remove) is channelkind's; this adds
// the Slack app's interactivity, set by name, and Slack's test message.
type Service struct {
	*channelkind.Service[Channel, *Channel]
	store  *store.Store
	authz  *project.Authorizer
	keys   *Keyring
	client *Client
}

// NewService returns the channel service. The client posts test messages;
// it must accept the same prefixes as validator.
func NewService(st *store.Store, authz *project.Authorizer, keys *Keyring, validator Validator, client *Client) *Service {
	kind := channelkind.Kind{Noun: "channel", NameNoun: "channel name", URLField: "webhookUrl",
		URLColumn: "webhook_url_enc", KeyVersionColumn: "key_version", Deliveries: "deliveries",
		CheckURL: func(raw string) error { return InputError(validator.Validate(raw)) }, Mask: Mask}
	return &Service{Service: channelkind.New[Channel](st, authz, keys, kind), store: st, authz: authz, keys: keys, client: client}
}

// InputError turns a *FieldError into the BAD_USER_INPUT it stands for;
// other errors pass unchanged.
func InputError(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return apperr.Invalid(fe.Field, "%s", fe.Message)
	}
	return err
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
type TestResult = channelkind.TestResult

// Add creates a channel.
func (s *Service) Add(ctx context.Context, projectID string, in AddInput) (*Channel, error) {
	return s.Service.Add(ctx, projectID,
		channelkind.AddInput{Name: in.Name, URL: in.WebhookURL, Events: in.Events, Enabled: in.Enabled, Ordering: in.Ordering},
		func(c *Channel) error { return s.sealInteractivity(c, in.Interactivity, nil) })
}

// Update changes a channel's name, URL, event selection, ordering or
// interactivity.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Channel, error) {
	return s.Service.Update(ctx, id,
		channelkind.UpdateInput{Name: in.Name, URL: in.WebhookURL, Events: in.Events, Ordering: in.Ordering},
		func(c *Channel, set map[string]any) error { return s.sealInteractivity(c, in.Interactivity, set) })
}

// Test posts a test message to the channel now and returns Slack's answer.
// It changes nothing: a dead webhook found this way is for the user to fix.
func (s *Service) Test(ctx context.Context, id string) (*TestResult, error) {
	c, p, err := s.PrepareTest(ctx, id)
	if err != nil {
		return nil, err
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
	outcome := Classify(r)
	return &TestResult{OK: outcome.Kind == Delivered, StatusCode: r.StatusCode, Error: ErrorText(r, outcome), Latency: r.Latency}, nil
}

// WebhookURL decrypts a channel's URL for posting. Never log or show it.
func (s *Service) WebhookURL(c *Channel) (string, error) { return s.URL(c) }

// validateEvents is channelkind.ValidateEvents.
func validateEvents(types []event.Type) (EventSet, error) { return channelkind.ValidateEvents(types) }
