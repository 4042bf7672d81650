package webhook

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
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
)

// MaxName is the longest endpoint name, in characters.
const MaxName = 80

// TestEventType is the type of a test request's payload.
const TestEventType = "WEBHOOK_TEST"

// Service manages a project's webhook endpoints, with the same rights as
// Slack channels: every member reads them; OWNER and ADMIN members and
// WRITE keys change them.
type Service struct {
	store  *store.Store
	authz  *project.Authorizer
	keys   *slack.Keyring
	policy Policy
	client *slack.Client
	tests  *ratelimit.Limiter // test requests per endpoint
}

// NewService returns the endpoint service. The client sends test
// requests; it must have been made with policy.
func NewService(st *store.Store, authz *project.Authorizer, keys *slack.Keyring, policy Policy, client *slack.Client) *Service {
	return &Service{store: st, authz: authz, keys: keys, policy: policy, client: client, tests: ratelimit.New(10*time.Second, 5)}
}

// Policy returns the URL rules endpoints follow.
func (s *Service) Policy() Policy { return s.policy }

// Client returns the client that posts to endpoints.
func (s *Service) Client() *slack.Client { return s.client }

// AddInput is a new endpoint.
type AddInput struct {
	Name    string
	URL     string
	Events  []event.Type
	Enabled bool
	// Ordering is the endpoint's; empty: slack.DefaultOrdering.
	Ordering slack.Ordering
}

// UpdateInput changes the fields that are not nil.
type UpdateInput struct {
	Name     *string
	URL      *string
	Events   []event.Type
	Ordering *slack.Ordering
}

// TestResult is the endpoint's answer to a test request.
type TestResult struct {
	OK         bool
	StatusCode int
	Error      string
	Latency    time.Duration
}

// List returns a project's endpoints, oldest first.
func (s *Service) List(ctx context.Context, projectID string) ([]Endpoint, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ReadSettings); err != nil {
		return nil, err
	}
	var out []Endpoint
	if err := s.store.DB(ctx).Where("project_id = ?", projectID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list webhook endpoints of project %s: %w", projectID, err)
	}
	for i := range out {
		if err := s.mask(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListPage is List, one page at a time.
func (s *Service) ListPage(ctx context.Context, projectID string, args page.Args) (page.Page[Endpoint], error) {
	w, err := args.Window(page.MaxSize, 1)
	if err != nil {
		return page.Page[Endpoint]{}, err
	}
	all, err := s.List(ctx, projectID)
	if err != nil {
		return page.Page[Endpoint]{}, err
	}
	return page.Slice(all, w, func(e Endpoint) string { return page.TimeKey(e.CreatedAt, e.ID) }), nil
}

// Get loads an endpoint and checks that the caller may take action in its
// project. A missing endpoint and another tenant's both answer NOT_FOUND.
func (s *Service) Get(ctx context.Context, id string, action project.Action) (*Endpoint, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	var e Endpoint
	if err := s.store.DB(ctx).Where("id = ?", id).Take(&e).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("webhook endpoint")
		}
		return nil, fmt.Errorf("load webhook endpoint %s: %w", id, err)
	}
	if _, err := s.authz.Authorize(ctx, e.ProjectID, action); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("webhook endpoint")
		}
		return nil, err
	}
	return &e, s.mask(&e)
}

// Add creates an endpoint with a new signing secret, returned once.
func (s *Service) Add(ctx context.Context, projectID string, in AddInput) (*Endpoint, string, error) {
	if err := apperr.CheckTexts("projectId", projectID, "name", in.Name, "url", in.URL); err != nil {
		return nil, "", err
	}
	if _, err := s.authz.Authorize(ctx, projectID, project.ManageSlack); err != nil {
		return nil, "", err
	}
	var problems apperr.Problems
	name, err := validateName(in.Name)
	problems.Add(err)
	events, err := validateEvents(in.Events)
	problems.Add(err)
	ordering, err := slack.ParseOrdering("ordering", string(in.Ordering))
	problems.Add(err)
	now := store.Now()
	e := Endpoint{ID: store.NewID(), ProjectID: projectID, Name: name, Events: events, Enabled: in.Enabled, Ordering: ordering,
		CreatedAt: now, UpdatedAt: now}
	if err := s.seal(&e, in.URL); !problems.Add(err) {
		return nil, "", err
	}
	if err := problems.Err(); err != nil {
		return nil, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	if e.SecretEnc, e.SecretKeyVersion, err = s.keys.Encrypt(secret); err != nil {
		return nil, "", err
	}
	if err := s.store.DB(ctx).Create(&e).Error; err != nil {
		return nil, "", s.writeError(err, name)
	}
	return &e, secret, s.mask(&e)
}

// Update changes an endpoint's name, URL or event selection.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Endpoint, error) {
	var problems apperr.Problems
	problems.Add(apperr.CheckText("id", id))
	if in.Name != nil {
		problems.Add(apperr.CheckText("name", *in.Name))
	}
	if in.URL != nil {
		problems.Add(apperr.CheckText("url", *in.URL))
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	e, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	set := map[string]any{}
	if in.Name != nil {
		if e.Name, err = validateName(*in.Name); err != nil {
			return nil, err
		}
		set["name"] = e.Name
	}
	if in.Events != nil {
		if e.Events, err = validateEvents(in.Events); err != nil {
			return nil, err
		}
		set["events"] = e.Events
	}
	if in.Ordering != nil {
		if e.Ordering, err = slack.ParseOrdering("ordering", string(*in.Ordering)); err != nil {
			return nil, err
		}
		set["ordering"] = e.Ordering
	}
	if in.URL != nil {
		if err := s.seal(e, *in.URL); err != nil {
			return nil, err
		}
		set["url_enc"], set["key_version"] = e.URLEnc, e.KeyVersion
	}
	if len(set) == 0 {
		return e, nil
	}
	return s.update(ctx, e, set)
}

// Toggle enables or disables an endpoint. Enabling clears the reason for
// which deliveries disabled it, and its failure streak.
func (s *Service) Toggle(ctx context.Context, id string, enabled bool) (*Endpoint, error) {
	e, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	set := map[string]any{"enabled": enabled}
	if enabled {
		set["disabled_reason"], set["failed_in_a_row"], set["failing_since"] = nil, 0, nil
	}
	return s.update(ctx, e, set)
}

// Remove deletes an endpoint and its delivery log. Deliveries still queued
// for it are dropped when their turn comes.
func (s *Service) Remove(ctx context.Context, id string) error {
	e, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return err
	}
	if err := s.store.DB(ctx).Where("id = ?", e.ID).Delete(&Endpoint{}).Error; err != nil {
		return fmt.Errorf("remove webhook endpoint %s: %w", e.ID, err)
	}
	return nil
}

// RotateSecret gives an endpoint a new signing secret, returned once. The
// previous one keeps signing, beside the new one, for overlap (default
// DefaultRotationOverlap; 0 ends it at once).
func (s *Service) RotateSecret(ctx context.Context, id string, overlap *time.Duration) (*Endpoint, string, error) {
	keep := DefaultRotationOverlap
	if overlap != nil {
		keep = *overlap
	}
	if keep < 0 || keep > MaxRotationOverlap {
		return nil, "", apperr.Invalid("overlapSeconds", "overlapSeconds must be 0 to %d", int(MaxRotationOverlap/time.Second))
	}
	e, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	enc, version, err := s.keys.Encrypt(secret)
	if err != nil {
		return nil, "", err
	}
	now := store.Now()
	set := map[string]any{"secret_enc": enc, "secret_key_version": version,
		"previous_secret_enc": nil, "previous_secret_key_version": nil, "previous_secret_expires_at": nil}
	if keep > 0 {
		set["previous_secret_enc"], set["previous_secret_key_version"], set["previous_secret_expires_at"] = e.SecretEnc, e.SecretKeyVersion, now.Add(keep)
	}
	// Only over the secret read, so that two rotations at once do not
	// leave a secret that no one was shown signing.
	res := s.store.DB(ctx).Model(&Endpoint{}).Where("id = ? AND secret_enc = ?", e.ID, e.SecretEnc).
		Updates(withUpdatedAt(set, now))
	if res.Error != nil {
		return nil, "", fmt.Errorf("rotate secret of webhook endpoint %s: %w", e.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, "", apperr.Conflict("the secret was rotated meanwhile; try again")
	}
	updated, err := s.Get(ctx, e.ID, project.Read)
	return updated, secret, err
}

// Secrets returns the secrets that sign a request to e at now: the current
// one, then the previous one while the rotation's overlap lasts.
func (s *Service) Secrets(e *Endpoint, now time.Time) ([]string, error) {
	return SigningSecrets(s.keys, e, now)
}

// SigningSecrets is Service.Secrets for a dispatcher that holds the
// keyring.
func SigningSecrets(keys *slack.Keyring, e *Endpoint, now time.Time) ([]string, error) {
	return signing(keys, "webhook endpoint "+e.ID, e.SecretEnc, e.SecretKeyVersion,
		e.PreviousSecretEnc, e.PreviousSecretKeyVersion, e.PreviousSecretExpiresAt, now)
}

// URL decrypts an endpoint's URL for posting. Never log or show it.
func (s *Service) URL(e *Endpoint) (string, error) {
	u, err := s.keys.Decrypt(e.URLEnc, e.KeyVersion)
	if err != nil {
		return "", fmt.Errorf("webhook endpoint %s: %w", e.ID, err)
	}
	return u, nil
}

// Test sends a signed WEBHOOK_TEST request to the endpoint now and returns
// its answer. It changes nothing.
func (s *Service) Test(ctx context.Context, id string) (*TestResult, error) {
	e, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, err
	}
	if ok, wait := s.tests.Allow(e.ID); !ok {
		return nil, apperr.RateLimited(wait)
	}
	var p project.Project
	if err := s.store.DB(ctx).Where("id = ?", e.ProjectID).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("load project %s: %w", e.ProjectID, err)
	}
	now := store.Now()
	body, err := Payload{ID: store.NewID(), Type: TestEventType, OccurredAt: now, Project: ProjectRef{ID: p.ID, Name: p.Name}}.JSON()
	if err != nil {
		return nil, err
	}
	secrets, err := s.Secrets(e, now)
	if err != nil {
		return nil, err
	}
	u, err := s.URL(e)
	if err != nil {
		return nil, err
	}
	r := Post(ctx, s.client, u, "msg_test_"+store.NewID(), now, body, secrets)
	o := Classify(r)
	return &TestResult{OK: o.Kind == slack.Delivered, StatusCode: r.StatusCode, Error: slack.ErrorText(r, o), Latency: r.Latency}, nil
}

// Post sends a signed request with the shared client.
func Post(ctx context.Context, client *slack.Client, url, msgID string, at time.Time, body []byte, secrets []string) slack.Result {
	h, err := Headers(msgID, at, body, secrets...)
	if err != nil {
		return slack.Result{Err: err}
	}
	opts := make([]slack.PostOption, 0, len(h))
	for k, v := range h {
		opts = append(opts, slack.WithHeader(k, v))
	}
	return client.Post(ctx, url, body, opts...)
}

// Classify says what an endpoint's answer means: 2xx delivered; 429
// rate limited (Retry-After honoured); 410 Gone a dead endpoint, to be
// disabled; a redirect a failure never followed nor retried; an invalid
// URL (the rules changed since it was stored) dead; anything else, 5xx,
// other 4xx, timeouts and connection errors, retried.
func Classify(r slack.Result) slack.Outcome {
	if r.Err != nil && r.StatusCode == 0 {
		var fe *slack.FieldError
		if errors.As(r.Err, &fe) {
			return slack.Outcome{Kind: slack.DeadWebhook, Reason: "invalid_url"}
		}
		return slack.Outcome{Kind: slack.Retryable, Reason: r.Err.Error()}
	}
	switch code := r.StatusCode; {
	case code >= 200 && code < 300:
		return slack.Outcome{Kind: slack.Delivered, Reason: fmt.Sprintf("status %d", code)}
	case code == 429:
		return slack.Outcome{Kind: slack.RateLimited, Reason: "status 429"}
	case code == 410:
		return slack.Outcome{Kind: slack.DeadWebhook, Reason: "410 Gone"}
	case code >= 300 && code < 400:
		return slack.Outcome{Kind: slack.Redirected, Reason: fmt.Sprintf("redirect not followed: status %d", code)}
	}
	return slack.Outcome{Kind: slack.Retryable, Reason: fmt.Sprintf("status %d", r.StatusCode)}
}

func withUpdatedAt(set map[string]any, now time.Time) map[string]any {
	set["updated_at"] = now
	return set
}

func (s *Service) update(ctx context.Context, e *Endpoint, set map[string]any) (*Endpoint, error) {
	if err := s.store.DB(ctx).Model(&Endpoint{}).Where("id = ?", e.ID).Updates(withUpdatedAt(set, store.Now())).Error; err != nil {
		return nil, s.writeError(err, e.Name)
	}
	var updated Endpoint
	if err := s.store.DB(ctx).Where("id = ?", e.ID).Take(&updated).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("webhook endpoint")
		}
		return nil, fmt.Errorf("load webhook endpoint %s: %w", e.ID, err)
	}
	return &updated, s.mask(&updated)
}

// seal validates an endpoint URL and stores it encrypted in e.
func (s *Service) seal(e *Endpoint, raw string) error {
	raw = strings.TrimSpace(raw)
	if err := s.policy.Validate(raw); err != nil {
		var fe *slack.FieldError
		if errors.As(err, &fe) {
			return apperr.Invalid(fe.Field, "%s", fe.Message)
		}
		return err
	}
	ciphertext, version, err := s.keys.Encrypt(raw)
	if err != nil {
		return err
	}
	e.URLEnc, e.KeyVersion = ciphertext, version
	return nil
}

func (s *Service) mask(e *Endpoint) error {
	u, err := s.URL(e)
	if err != nil {
		return err
	}
	e.Masked = Mask(u)
	return nil
}

func (s *Service) writeError(err error, name string) error {
	if store.IsDuplicate(err) {
		return apperr.Conflict("a webhook endpoint named %q already exists in this project", name)
	}
	return fmt.Errorf("save webhook endpoint: %w", err)
}

func validateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxName {
		return "", apperr.Invalid("name", "endpoint name must be 1 to %d characters", MaxName)
	}
	return name, nil
}

// validateEvents requires at least one known event type and returns the
// selection without duplicates, in event.AllTypes order.
func validateEvents(types []event.Type) (slack.EventSet, error) {
	for _, t := range types {
		if !t.Valid() {
			return nil, apperr.Invalid("events", "unknown event type %q", t)
		}
	}
	var out slack.EventSet
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
