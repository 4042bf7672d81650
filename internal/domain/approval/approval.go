// Package approval owns approvals and the project's key/value store: link
// tokens, PINs and nonces, and the rules by which a link is opened,
// executed, invalidated or expires, each step recorded as an event in the
// transaction that makes it.
package approval

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/apperr"
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
	// Decision is who picked ExecutedAction, how, and their comment; nil
	// unless EXECUTED.
	Decision *Decision
	// AllowLink is false when the link may not be used to decide.
	AllowLink bool
	// Deciders are the users who may decide from the dashboard; nil: any
	// member whose role may decide.
	Deciders []string
	// The creator: a user or an API key.
	CreatedByUserID   *string
	CreatedByAPIKeyID *string
	// RemindedAt is when APPROVAL_EXPIRING was recorded (deadline.go).
	RemindedAt *time.Time
	// Missing are the fields the read that made it left unfilled (a list's
	// Filter.Skip); zero for a whole approval.
	Missing Fields
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
	// The decision columns (decisionColumns), listed here since GORM maps
	// no unexported embedded struct.
	DecidedVia             *string
	DecidedByUserID        *string `gorm:"column:decided_by_user_id"`
	DecidedBySlackUserID   *string `gorm:"column:decided_by_slack_user_id"`
	DecidedBySlackUserName *string `gorm:"column:decided_by_slack_user_name"`
	DecisionComment        *string
	AllowLink              bool
	Deciders               *string // JSON array of user ids
	CreatedByUserID        *string `gorm:"column:created_by_user_id"`
	CreatedByAPIKeyID      *string `gorm:"column:created_by_api_key_id"`
	RemindedAt             *time.Time
	// missing are the fields whose columns the read did not take.
	missing Fields
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
	if known, ok := actionSets.Load(r.Actions); ok {
		return slices.Clone(known.([]Action)), nil
	}
	var actions []Action
	if err := json.Unmarshal([]byte(r.Actions), &actions); err != nil {
		return nil, fmt.Errorf("decode actions of approval %s: %w", r.ID, err)
	}
	if actionSetCount.Load() < maxActionSets {
		if _, loaded := actionSets.LoadOrStore(r.Actions, slices.Clone(actions)); !loaded {
			actionSetCount.Add(1)
		}
	}
	return actions, nil
}

// actionSets holds decoded action sets by their stored JSON, read-only;
// readers get a copy. Most approvals share a few sets (the default two
// actions, a script's own), so a page of approvals decodes each set once
// instead of once per row. At most maxActionSets are kept: beyond them a
// set is decoded every time, as it would be without the cache.
var (
	actionSets     sync.Map
	actionSetCount atomic.Int64
)

const maxActionSets = 1024

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
	var actions []Action
	var err error
	if r.missing&(FieldActions|FieldOutcome) != FieldActions|FieldOutcome {
		if actions, err = r.actions(); err != nil {
			return Approval{}, err
		}
	}
	a := Approval{
		ID: r.ID, ProjectID: r.ProjectID, KeyPath: r.KeyPath, Info: r.Info, RefID: r.RefID,
		Actions: actions, Status: r.status(now), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		PinRequired: r.PinHash != nil, MaxPinAttempts: r.MaxPinAttempts, FailedPinAttempts: r.FailedPinAttempts,
		ExecutedAt: r.ExecutedAt, InvalidatedAt: r.InvalidatedAt, InvalidationReason: r.InvalidationReason,
		AllowLink: r.AllowLink, CreatedByUserID: r.CreatedByUserID, CreatedByAPIKeyID: r.CreatedByAPIKeyID,
		RemindedAt: r.RemindedAt, Missing: r.missing,
	}
	if r.ExecutedAction != nil {
		if act, ok := findAction(actions, *r.ExecutedAction); ok {
			a.ExecutedAction = &act
			if r.ExecutedAt != nil {
				a.Decision = decisionColumns{DecidedVia: r.DecidedVia, DecidedByUserID: r.DecidedByUserID,
					DecidedBySlackUserID: r.DecidedBySlackUserID, DecidedBySlackUserName: r.DecidedBySlackUserName,
					DecisionComment: r.DecisionComment}.decision(act, *r.ExecutedAt)
			}
		}
	}
	if a.Deciders, err = r.deciders(); err != nil {
		return Approval{}, err
	}
	return a, nil
}

// event starts the event of one of this approval's steps.
func (r *row) event(t event.Type, now time.Time) *event.Event {
	id := r.ID
	return &event.Event{Type: t, OccurredAt: now, ProjectID: r.ProjectID, ApprovalID: &id, KeyPath: r.KeyPath, ApprovalCreatedAt: r.CreatedAt}
}

// errNotPending ends a transaction whose conditional update found the
// approval no longer pending; the caller reports the state it is in.
var errNotPending = apperr.Conflict("the approval is no longer pending")

// ClosedError is the CONFLICT for an approval that can no longer be used. It
// carries the status, so callers such as the approval page can say why
// without reading the message; it unwraps to the domain error the API shows.
type ClosedError struct {
	Status Status
	err    *apperr.Error
}

func (e *ClosedError) Error() string { return e.err.Error() }

// Unwrap exposes the CONFLICT to apperr.As and errors.Is.
func (e *ClosedError) Unwrap() error { return e.err }

// closedError is the CONFLICT for an approval in status st.
func closedError(st Status) error {
	var msg string
	switch st {
	case Executed:
		msg = "this approval has already been executed"
	case Expired:
		msg = "this approval has expired"
	case Invalidated:
		msg = "this approval has been invalidated"
	case Locked:
		msg = "this approval is locked after too many failed PIN attempts"
	default:
		return errNotPending
	}
	return &ClosedError{Status: st, err: apperr.Conflict("%s", msg)}
}
