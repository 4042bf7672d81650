package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/channelkind"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// MaxName is the longest endpoint name, in characters.
const MaxName = channelkind.MaxName

// TestEventType is the type of a test request's payload.
const TestEventType = "WEBHOOK_TEST"

// Service manages a project's webhook endpoints, with the same rights as
// Slack channels: every member reads them; OWNER and ADMIN members and
// WRITE keys change them. What every kind of channel does (list, get,
// update, toggle, remove) is channelkind's; this adds the signing secret
// and its rotation, and the signed test request.
type Service struct {
	*channelkind.Service[Endpoint, *Endpoint]
	store  *store.Store
	keys   *slack.Keyring
	policy Policy
	client *slack.Client
}

// NewService returns the endpoint service. The client sends test
// requests; it must have been made with policy.
func NewService(st *store.Store, authz *project.Authorizer, keys *slack.Keyring, policy Policy, client *slack.Client) *Service {
	kind := channelkind.Kind{Noun: "webhook endpoint", NameNoun: "endpoint name", URLField: "url",
		URLColumn: "url_enc", KeyVersionColumn: "key_version", Deliveries: "webhook_deliveries",
		// A re-enabled endpoint starts a new failure streak.
		ResetOnEnable: map[string]any{"failed_in_a_row": 0, "failing_since": nil},
		CheckURL:      func(raw string) error { return slack.InputError(policy.Validate(raw)) }, Mask: Mask}
	return &Service{Service: channelkind.New[Endpoint](st, authz, keys, kind), store: st, keys: keys, policy: policy, client: client}
}

// Policy returns the URL rules endpoints follow.
func (s *Service) Policy() Policy { return s.policy }

// Client returns the client that posts to endpoints.
func (s *Service) Client() *slack.Client { return s.client }

// AddInput is a new endpoint.
type AddInput = channelkind.AddInput

// UpdateInput changes the fields that are not nil.
type UpdateInput = channelkind.UpdateInput

// TestResult is the endpoint's answer to a test request.
type TestResult = channelkind.TestResult

// Add creates an endpoint with a new signing secret, returned once.
func (s *Service) Add(ctx context.Context, projectID string, in AddInput) (*Endpoint, string, error) {
	var secret string
	e, err := s.Service.Add(ctx, projectID, in, func(e *Endpoint) (err error) {
		if secret, err = NewSecret(); err != nil {
			return err
		}
		e.SecretEnc, e.SecretKeyVersion, err = s.keys.Encrypt(secret)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// Update changes an endpoint's name, URL, event selection or ordering.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Endpoint, error) {
	return s.Service.Update(ctx, id, in, nil)
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

// Test sends a signed WEBHOOK_TEST request to the endpoint now and returns
// its answer. It changes nothing.
func (s *Service) Test(ctx context.Context, id string) (*TestResult, error) {
	e, p, err := s.PrepareTest(ctx, id)
	if err != nil {
		return nil, err
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
