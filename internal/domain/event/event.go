// Package event owns the record of everything that happens to approvals:
// the events table, the one function through which events are recorded,
// and the live broker that streams them to subscribers.
package event

import "time"

// Type names what happened. The values are the GraphQL EventType names.
type Type string

const (
	ApprovalCreated     Type = "APPROVAL_CREATED"
	ApprovalExecuted    Type = "APPROVAL_EXECUTED"
	ApprovalExpired     Type = "APPROVAL_EXPIRED"
	ApprovalInvalidated Type = "APPROVAL_INVALIDATED"
	PinFailed           Type = "PIN_FAILED"
	TokenLocked         Type = "TOKEN_LOCKED"
	// ApprovalExpiring is the reminder of a project that asked for one,
	// recorded while the approval is still pending (see project.Settings).
	ApprovalExpiring Type = "APPROVAL_EXPIRING"
)

// AllTypes lists every event type in a stable order.
var AllTypes = []Type{ApprovalCreated, ApprovalExecuted, ApprovalExpired, ApprovalInvalidated, PinFailed, TokenLocked, ApprovalExpiring}

// Outcome names the final status an event of this type records, as the
// business metrics label it; final is false for the other types.
func (t Type) Outcome() (outcome string, final bool) {
	switch t {
	case ApprovalExecuted:
		return "executed", true
	case ApprovalExpired:
		return "expired", true
	case ApprovalInvalidated:
		return "invalidated", true
	case TokenLocked:
		return "locked", true
	}
	return "", false
}

// Valid reports whether t is a known event type.
func (t Type) Valid() bool {
	for _, known := range AllTypes {
		if t == known {
			return true
		}
	}
	return false
}

// LockedReason is the reason recorded with TOKEN_LOCKED.
const LockedReason = "Too many failed PIN attempts"

// Event is one row of the events table. Events are ordered by their
// Position (see log.go); a client names its cursor by an event's ID.
type Event struct {
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// Xid is the PostgreSQL transaction that wrote the event, filled in by
	// the database when the row is inserted (0 on SQLite).
	Xid         int64     `gorm:"column:xid;default:(-)"`
	Type        Type      `gorm:"not null"`
	OccurredAt  time.Time `gorm:"not null"`
	ProjectID   string    `gorm:"not null"`
	ApprovalID  *string
	KeyPath     string `gorm:"not null"`
	Action      *string
	Attempts    *int
	MaxAttempts *int
	Reason      *string
	// The decision of APPROVAL_EXECUTED: how it was made, by whom, and the
	// decider's comment.
	DecidedVia             *string
	DecidedByUserID        *string `gorm:"column:decided_by_user_id"`
	DecidedBySlackUserID   *string `gorm:"column:decided_by_slack_user_id"`
	DecidedBySlackUserName *string `gorm:"column:decided_by_slack_user_name"`
	Comment                *string
	// ApprovalCreatedAt is when the event's approval was created, for the
	// after-commit functions (how long a decision took); not stored.
	ApprovalCreatedAt time.Time `gorm:"-"`
}

// TableName keeps the table name independent of GORM's naming rules.
func (Event) TableName() string { return "events" }
