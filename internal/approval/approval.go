// Package approval owns approvals and the project's key/value store: link
// tokens, PINs and nonces, and the rules by which a link is opened,
// executed, invalidated or expires, each step recorded as an event in the
// transaction that makes it.
package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/page"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/ratelimit"
	"github.com/ottr/backend/internal/store"
)

// Status is an approval's state. The values are the GraphQL names.
type Status string

const (
	Pending     Status = "PENDING"
	Executed    Status = "EXECUTED"
	Expired     Status = "EXPIRED"
	Invalidated Status = "INVALIDATED"
	Locked      Status = "LOCKED"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case Pending, Executed, Expired, Invalidated, Locked:
		return true
	}
	return false
}

// Style is how an action's button looks.
type Style string

const (
	StyleDefault Style = "DEFAULT"
	StylePrimary Style = "PRIMARY"
	StyleDanger  Style = "DANGER"
)

// Action is one choice offered by an approval.
type Action struct {
	Key   string `json:"key"`
	Value string `json:"value"` // what the key path is set to
	Label string `json:"label"`
	Style Style  `json:"style"`
}

// Approval is an approval as callers see it: a PENDING approval whose time
// has passed reads Expired.
type Approval struct {
	ID                 string
	ProjectID          string
	KeyPath            string
	Info               *string
	RefID              *string
	Actions            []Action
	Status             Status
	CreatedAt          time.Time
	ExpiresAt          time.Time
	PinRequired        bool
	MaxPinAttempts     int
	FailedPinAttempts  int
	ExecutedAction     *Action
	ExecutedAt         *time.Time
	InvalidatedAt      *time.Time
	InvalidationReason *string
}

// row is an approvals row as stored.
type row struct {
	ID                 string
	ProjectID          string
	KeyPath            string
	Info               *string
	RefID              *string
	Actions            string // JSON array of Action
	Status             Status
	CreatedAt          time.Time
	ExpiresAt          time.Time
	TokenHash          string
	PinHash            *string
	MaxPinAttempts     int
	FailedPinAttempts  int
	ExecutedAction     *string // the action's key
	ExecutedAt         *time.Time
	InvalidatedAt      *time.Time
	InvalidationReason *string
}

func (row) TableName() string { return "approvals" }

// expiredAt reports whether a pending approval's time has passed at now.
func (r *row) expiredAt(now time.Time) bool { return !now.Before(r.ExpiresAt) }

// status is the status callers see: the one place where a PENDING approval
// past its expiry reads EXPIRED, before any access attempt records it.
func (r *row) status(now time.Time) Status {
	if r.Status == Pending && r.expiredAt(now) {
		return Expired
	}
	return r.Status
}

func (r *row) actions() ([]Action, error) {
	var actions []Action
	if err := json.Unmarshal([]byte(r.Actions), &actions); err != nil {
		return nil, fmt.Errorf("decode actions of approval %s: %w", r.ID, err)
	}
	return actions, nil
}

func findAction(actions []Action, key string) (Action, bool) {
	for _, a := range actions {
		if a.Key == key {
			return a, true
		}
	}
	return Action{}, false
}

// approval converts a row for callers.
func (r *row) approval(now time.Time) (Approval, error) {
	actions, err := r.actions()
	if err != nil {
		return Approval{}, err
	}
	a := Approval{
		ID: r.ID, ProjectID: r.ProjectID, KeyPath: r.KeyPath, Info: r.Info, RefID: r.RefID,
		Actions: actions, Status: r.status(now), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		PinRequired: r.PinHash != nil, MaxPinAttempts: r.MaxPinAttempts, FailedPinAttempts: r.FailedPinAttempts,
		ExecutedAt: r.ExecutedAt, InvalidatedAt: r.InvalidatedAt, InvalidationReason: r.InvalidationReason,
	}
	if r.ExecutedAction != nil {
		if act, ok := findAction(actions, *r.ExecutedAction); ok {
			a.ExecutedAction = &act
		}
	}
	return a, nil
}

// event starts the event of one of this approval's steps.
func (r *row) event(t event.Type, now time.Time) *event.Event {
	id := r.ID
	return &event.Event{Type: t, OccurredAt: now, ProjectID: r.ProjectID, ApprovalID: &id, KeyPath: r.KeyPath}
}

// Link rate limits, per client IP. A person opens a link a few times and
// submits it once, or a few times when mistyping a PIN; a script guessing
// tokens, or a page hammered from one address, runs into these at once.
const (
	OpenBurst    = 30              // link loads at once
	OpenEvery    = 2 * time.Second // then one more every 2 s (30 a minute)
	ExecuteBurst = 10              // submissions at once
	ExecuteEvery = 6 * time.Second // then one more every 6 s (10 a minute)
)

// DefaultPageSize is the number of approvals in a page when none is asked
// for.
const DefaultPageSize = 20

// Options is what the service needs.
type Options struct {
	Store    *store.Store
	Authz    *project.Authorizer
	Recorder *event.Recorder
	// Secret is the server secret the PIN and nonce keys are derived from.
	Secret []byte
	// PublicURL is the base of approval links.
	PublicURL string
	// Now is the clock for expiry and nonces; nil is the system clock.
	Now func() time.Time
}

// Service runs approvals and the key/value store.
type Service struct {
	store     *store.Store
	authz     *project.Authorizer
	recorder  *event.Recorder
	secrets   secrets
	publicURL string
	now       func() time.Time
	openLimit *ratelimit.Limiter
	execLimit *ratelimit.Limiter
}

// NewService returns the approval service.
func NewService(o Options) *Service {
	now := store.Now
	if o.Now != nil {
		clock := o.Now
		now = func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	}
	return &Service{
		store: o.Store, authz: o.Authz, recorder: o.Recorder, secrets: newSecrets(o.Secret),
		publicURL: o.PublicURL, now: now,
		openLimit: ratelimit.New(OpenEvery, OpenBurst),
		execLimit: ratelimit.New(ExecuteEvery, ExecuteBurst),
	}
}

// load reads an approval row by a column that identifies one.
func (s *Service) load(ctx context.Context, column, value string) (*row, error) {
	var r row
	err := s.store.DB(ctx).Where(column+" = ?", value).Take(&r).Error
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("approval")
	}
	if err != nil {
		return nil, fmt.Errorf("load approval by %s: %w", column, err)
	}
	return &r, nil
}

// Get returns an approval the caller may read. Another tenant's approval
// answers NOT_FOUND like a missing one.
func (s *Service) Get(ctx context.Context, id string) (*Approval, error) {
	r, err := s.load(ctx, "id", id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, r.ProjectID, project.Read); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("approval")
		}
		return nil, err
	}
	a, err := r.approval(s.now())
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Filter narrows a list of approvals.
type Filter struct {
	Status    *Status
	KeyPrefix *string
	RefID     *string
}

// List returns a project's approvals, newest first.
func (s *Service) List(ctx context.Context, projectID string, f Filter, args page.Args) (page.Page[Approval], error) {
	var none page.Page[Approval]
	if _, err := s.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return none, err
	}
	size, err := args.Size(DefaultPageSize)
	if err != nil {
		return none, err
	}
	now := s.now()
	db := s.store.DB(ctx).Where("project_id = ?", projectID)
	if f.Status != nil {
		// The same reading as row.status: a PENDING approval past its
		// expiry is EXPIRED.
		switch *f.Status {
		case Pending:
			db = db.Where("status = ? AND expires_at > ?", Pending, now)
		case Expired:
			db = db.Where("(status = ? OR (status = ? AND expires_at <= ?))", Expired, Pending, now)
		default:
			if !f.Status.Valid() {
				return none, apperr.Invalid("status", "unknown status %q", *f.Status)
			}
			db = db.Where("status = ?", *f.Status)
		}
	}
	if f.KeyPrefix != nil && *f.KeyPrefix != "" {
		if err := checkLength("keyPrefix", *f.KeyPrefix, MaxPathLen); err != nil {
			return none, err
		}
		db = db.Where(prefixCondition("key_path"), len(*f.KeyPrefix), *f.KeyPrefix)
	}
	if f.RefID != nil {
		db = db.Where("ref_id = ?", *f.RefID)
	}
	if parts, ok, err := args.Cursor(2); err != nil {
		return none, err
	} else if ok {
		micros, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return none, page.ErrBadCursor
		}
		at := time.UnixMicro(micros).UTC()
		db = db.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, parts[1])
	}
	var rows []row
	if err := db.Order("created_at DESC, id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return none, fmt.Errorf("list approvals of %s: %w", projectID, err)
	}
	var convErr error
	p := page.Cut(rows, size, func(r row) string {
		return page.Encode(strconv.FormatInt(r.CreatedAt.UnixMicro(), 10), r.ID)
	}, func(r row) Approval {
		a, err := r.approval(now)
		if err != nil {
			convErr = err
		}
		return a
	})
	return p, convErr
}

// prefixCondition matches column against a prefix by its first characters;
// LIKE would need escaping and is case-insensitive on SQLite.
func prefixCondition(column string) string { return "substr(" + column + ", 1, ?) = ?" }

// Invalidate withdraws a PENDING approval. Any other state, including a
// pending one past its expiry, is a CONFLICT.
func (s *Service) Invalidate(ctx context.Context, id string, reason *string) (*Approval, error) {
	r, err := s.load(ctx, "id", id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, r.ProjectID, project.WriteData); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("approval")
		}
		return nil, err
	}
	if reason != nil {
		if err := checkLength("reason", *reason, MaxReasonLen); err != nil {
			return nil, err
		}
	}
	now := s.now()
	err = s.store.WithTx(ctx, func(ctx context.Context) error {
		res := s.store.DB(ctx).Exec(`UPDATE approvals SET status = ?, invalidated_at = ?, invalidation_reason = ?
			WHERE id = ? AND status = ? AND expires_at > ?`, Invalidated, now, reason, id, Pending, now)
		if res.Error != nil {
			return fmt.Errorf("invalidate approval %s: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return errNotPending
		}
		ev := r.event(event.ApprovalInvalidated, now)
		ev.Reason = reason
		return s.recorder.Record(ctx, ev)
	})
	if err != nil && !errors.Is(err, errNotPending) {
		return nil, err
	}
	current, loadErr := s.load(ctx, "id", id)
	if loadErr != nil {
		return nil, loadErr
	}
	if err != nil {
		return nil, closedError(current.status(now))
	}
	a, err := current.approval(now)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// errNotPending ends a transaction whose conditional update found the
// approval no longer pending; the caller reports the state it is in.
var errNotPending = apperr.Conflict("the approval is no longer pending")

// closedError is the CONFLICT for an approval that can no longer be used.
func closedError(st Status) error {
	switch st {
	case Executed:
		return apperr.Conflict("this approval has already been executed")
	case Expired:
		return apperr.Conflict("this approval has expired")
	case Invalidated:
		return apperr.Conflict("this approval has been invalidated")
	case Locked:
		return apperr.Conflict("this approval is locked after too many failed PIN attempts")
	}
	return errNotPending
}
