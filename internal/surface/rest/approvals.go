package rest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// createRequest is POST /v1/approvals: the simple form (value) or the
// full form (actions).
type createRequest struct {
	KeyPath        string        `json:"key_path"`
	Value          *string       `json:"value"`
	Actions        []actionInput `json:"actions"`
	TTLSeconds     *int          `json:"ttl_seconds"`
	InitialValue   *string       `json:"initial_value"`
	Info           *string       `json:"info"`
	RefID          *string       `json:"ref_id"`
	Pin            *string       `json:"pin"`
	MaxPinAttempts *int          `json:"max_pin_attempts"`
	Deciders       []string      `json:"deciders"`
	AllowLink      *bool         `json:"allow_link"`
	CallbackURL    *string       `json:"callback_url"`
}

type actionInput struct {
	Key   string  `json:"key"`
	Value string  `json:"value"`
	Label *string `json:"label"`
	Style *string `json:"style"` // primary, danger or default
}

func (in createRequest) domain() approval.CreateInput {
	out := approval.CreateInput{KeyPath: in.KeyPath, Value: in.Value, TTLSeconds: in.TTLSeconds,
		InitialValue: in.InitialValue, Info: in.Info, RefID: in.RefID, Pin: in.Pin, MaxPinAttempts: in.MaxPinAttempts,
		Deciders: in.Deciders, AllowLink: in.AllowLink, CallbackURL: in.CallbackURL}
	if in.Actions != nil {
		out.Actions = make([]approval.ActionInput, len(in.Actions))
		for i, a := range in.Actions {
			out.Actions[i] = approval.ActionInput{Key: a.Key, Value: a.Value, Label: a.Label}
			if a.Style != nil {
				// The API's names are lower case; anything else reaches
				// the domain as sent, which refuses it with the same text.
				st := approval.Style(*a.Style)
				switch *a.Style {
				case "primary", "danger", "default":
					st = approval.Style(strings.ToUpper(*a.Style))
				}
				out.Actions[i].Style = &st
			}
		}
	}
	return out
}

// created is the answer to POST /v1/approvals. It holds only what never
// changes, so a repeat with the same Idempotency-Key gets the same bytes.
type created struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	KeyPath   string    `json:"key_path"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *API) createApproval(w http.ResponseWriter, r *http.Request) {
	projectID, body, err := keyRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var in createRequest
	if err := decodeJSON(body, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	var (
		c        *approval.Created
		replayed bool
	)
	if key, given := idempotencyKey(r); given {
		sum := sha256.Sum256(body)
		c, replayed, err = a.approvals.CreateOnce(r.Context(), projectID, key, hex.EncodeToString(sum[:]), in.domain())
	} else {
		c, err = a.approvals.Create(r.Context(), projectID, in.domain())
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/v1/approvals/"+c.Approval.ID)
	writeJSON(w, http.StatusCreated, created{ID: c.Approval.ID, URL: c.URL, KeyPath: c.Approval.KeyPath,
		CreatedAt: c.Approval.CreatedAt.UTC(), ExpiresAt: c.Approval.ExpiresAt.UTC()})
}

// idempotencyKey is the request's Idempotency-Key header; an empty one
// counts as given, so that the domain refuses it.
func idempotencyKey(r *http.Request) (string, bool) {
	v, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", false
	}
	return strings.Join(v, ","), true
}

// approvalJSON is an approval as the API shows it.
type approvalJSON struct {
	ID                 string        `json:"id"`
	KeyPath            string        `json:"key_path"`
	Status             string        `json:"status"` // pending, executed, expired, invalidated, locked
	Info               *string       `json:"info"`
	RefID              *string       `json:"ref_id"`
	Actions            []actionJSON  `json:"actions"`
	CreatedAt          time.Time     `json:"created_at"`
	ExpiresAt          time.Time     `json:"expires_at"`
	PinRequired        bool          `json:"pin_required"`
	MaxPinAttempts     int           `json:"max_pin_attempts"`
	FailedPinAttempts  int           `json:"failed_pin_attempts"`
	ExecutedAction     *actionJSON   `json:"executed_action"`
	ExecutedAt         *time.Time    `json:"executed_at"`
	InvalidatedAt      *time.Time    `json:"invalidated_at"`
	InvalidationReason *string       `json:"invalidation_reason"`
	Decision           *decisionJSON `json:"decision"`
}

type actionJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Label string `json:"label"`
	Style string `json:"style"`
}

func toActionJSON(a approval.Action) actionJSON {
	return actionJSON{Key: a.Key, Value: a.Value, Label: a.Label, Style: strings.ToLower(string(a.Style))}
}

func toApprovalJSON(a *approval.Approval) approvalJSON {
	out := approvalJSON{ID: a.ID, KeyPath: a.KeyPath, Status: strings.ToLower(string(a.Status)), Info: a.Info, RefID: a.RefID,
		Actions: make([]actionJSON, len(a.Actions)), CreatedAt: a.CreatedAt.UTC(), ExpiresAt: a.ExpiresAt.UTC(),
		PinRequired: a.PinRequired, MaxPinAttempts: a.MaxPinAttempts, FailedPinAttempts: a.FailedPinAttempts,
		ExecutedAt: utc(a.ExecutedAt), InvalidatedAt: utc(a.InvalidatedAt), InvalidationReason: a.InvalidationReason}
	for i, act := range a.Actions {
		out.Actions[i] = toActionJSON(act)
	}
	if a.ExecutedAction != nil {
		act := toActionJSON(*a.ExecutedAction)
		out.ExecutedAction = &act
	}
	out.Decision = toDecisionJSON(a.Decision)
	return out
}

// utc shows a time in UTC, whatever the database driver's zone.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// getApproval reads an approval; with ?wait= it waits, up to MaxWait, for a
// final status, and answers at once when there is one already.
func (a *API) getApproval(w http.ResponseWriter, r *http.Request) {
	p, err := keyPrincipal(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	wait, err := parseWait(r.URL.Query().Get("wait"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	var got *approval.Approval
	if wait > 0 {
		// The server's WriteTimeout counts from the request: the wait
		// comes on top of it.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + answerWithin))
		got, err = a.await(r.Context(), p, id, wait)
	} else {
		got, err = a.approvals.Get(r.Context(), id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toApprovalJSON(got))
}

// await follows the approval's live stream (its events, from any
// instance) until it reads a final status or wait has passed, and returns
// the last state it read.
func (a *API) await(ctx context.Context, key *auth.KeyPrincipal, id string, wait time.Duration) (*approval.Approval, error) {
	stream, err := a.live.ApprovalUpdated(ctx, id)
	if err != nil {
		return nil, err
	}
	release, err := a.holdWait(key.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	go func() {
		select {
		case <-a.draining:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	var last *approval.Approval
	err = stream(waitCtx, func(cur approval.Approval) bool {
		last = &cur
		return true
	})
	if err != nil && ctx.Err() == nil && (waitCtx.Err() != nil || apperr.CodeOf(err) == apperr.CodeShuttingDown) {
		// A read cut short by the end of the wait, or by a stopping server
		// (its live streams end as the waits drain): read again below.
		err, last = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if last == nil {
		return a.approvals.Get(ctx, id)
	}
	return last, nil
}

// holdWait counts an open long-poll of an API key, refusing one over
// MaxWaitsPerKey.
func (a *API) holdWait(keyID string) (release func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waits[keyID] >= MaxWaitsPerKey {
		return nil, &apperr.Error{Code: apperr.CodeRateLimited, RetryAfter: time.Second,
			Message: "this API key already holds " + strconv.Itoa(MaxWaitsPerKey) + " open waits; wait for one to end"}
	}
	a.waits[keyID]++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.waits[keyID]--; a.waits[keyID] <= 0 {
			delete(a.waits, keyID)
		}
	}, nil
}

// parseWait reads ?wait=: a Go duration (30s, 1m) or whole seconds (30);
// empty is 0, more than MaxWait is MaxWait.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, convErr := strconv.Atoi(v)
		if convErr != nil {
			return 0, apperr.Invalid("wait", "wait must be a duration such as 30s or a number of seconds")
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 {
		return 0, apperr.Invalid("wait", "wait must not be negative")
	}
	return min(d, MaxWait), nil
}

// invalidateRequest is the optional body of POST …/invalidate.
type invalidateRequest struct {
	Reason *string `json:"reason"`
}

func (a *API) invalidateApproval(w http.ResponseWriter, r *http.Request) {
	_, body, err := keyRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var in invalidateRequest
	if err := decodeJSON(body, &in, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	got, err := a.approvals.Invalidate(r.Context(), r.PathValue("id"), in.Reason)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toApprovalJSON(got))
}

// keyPrincipal is the request's API key (see project.KeyProject).
func keyPrincipal(ctx context.Context) (*auth.KeyPrincipal, error) {
	if _, err := project.KeyProject(ctx); err != nil {
		return nil, err
	}
	p, _ := auth.Require(ctx)
	return p.APIKey, nil
}
