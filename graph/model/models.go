// Package model holds the GraphQL models. models_gen.go is generated; the
// types here are written by hand because they carry fields the schema does
// not show (the owning project's id), and their other fields are resolved.
package model

import "time"

// Project is a tenant. Members, approvals, keys and the rest are resolved.
type Project struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Approval is one request for a decision. Project and events are resolved
// through the request's loaders.
type Approval struct {
	ID                 string            `json:"id"`
	ProjectID          string            `json:"-"`
	KeyPath            string            `json:"keyPath"`
	Info               *string           `json:"info,omitempty"`
	RefID              *string           `json:"refId,omitempty"`
	Actions            []*ApprovalAction `json:"actions"`
	Status             ApprovalStatus    `json:"status"`
	CreatedAt          time.Time         `json:"createdAt"`
	ExpiresAt          time.Time         `json:"expiresAt"`
	PinRequired        bool              `json:"pinRequired"`
	MaxPinAttempts     int               `json:"maxPinAttempts"`
	FailedPinAttempts  int               `json:"failedPinAttempts"`
	ExecutedAction     *ApprovalAction   `json:"executedAction,omitempty"`
	ExecutedAt         *time.Time        `json:"executedAt,omitempty"`
	InvalidatedAt      *time.Time        `json:"invalidatedAt,omitempty"`
	InvalidationReason *string           `json:"invalidationReason,omitempty"`
	Decision           *Decision         `json:"decision,omitempty"`
	AllowLink          bool              `json:"allowLink"`
	// DeciderIDs are resolved to the deciders field.
	DeciderIDs []string   `json:"-"`
	RemindedAt *time.Time `json:"remindedAt,omitempty"`
	// Partial is true when the read left out fields that the operation
	// does not select: such an approval must not serve another selection.
	Partial bool `json:"-"`
	// PageEvents are the approval's events, read in part with a page of
	// partial approvals for the page's own selection; nil when not read.
	PageEvents []*Event `json:"-"`
}

// KeyValue is one entry of a project's key/value store. Its pending
// approval is resolved through the request's loaders.
type KeyValue struct {
	ProjectID string    `json:"-"`
	Path      string    `json:"path"`
	Value     *string   `json:"value,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// KeyValueIDPrefix and MemberIDPrefix start the ids of the objects that
// have no id of their own: "key:<project id>:<path>" and
// "member:<project id>:<user id>". The other ids are UUIDs, and event ids
// integers, so no two objects share one.
const (
	KeyValueIDPrefix = "key:"
	MemberIDPrefix   = "member:"
)

// ID names the key within all projects.
func (kv *KeyValue) ID() string { return KeyValueIDPrefix + kv.ProjectID + ":" + kv.Path }

// MemberID is the id of a user's membership in a project.
func MemberID(projectID, userID string) string { return MemberIDPrefix + projectID + ":" + userID }

// The hand-written models implement Node like the generated ones.

func (Project) IsNode()              {}
func (p Project) GetID() string      { return p.ID }
func (Approval) IsNode()             {}
func (a Approval) GetID() string     { return a.ID }
func (KeyValue) IsNode()             {}
func (kv KeyValue) GetID() string    { return kv.ID() }
func (SlackChannel) IsNode()         {}
func (c SlackChannel) GetID() string { return c.ID }
func (Delivery) IsNode()             {}
func (d Delivery) GetID() string     { return d.ID }

// SlackChannel is one configured incoming webhook. Deliveries are resolved.
type SlackChannel struct {
	ID                  string          `json:"id"`
	ProjectID           string          `json:"-"`
	Name                string          `json:"name"`
	WebhookURLMasked    string          `json:"webhookUrlMasked"`
	Events              []EventType     `json:"events"`
	Enabled             bool            `json:"enabled"`
	DisabledReason      *string         `json:"disabledReason,omitempty"`
	CreatedAt           time.Time       `json:"createdAt"`
	UpdatedAt           time.Time       `json:"updatedAt"`
	LastDeliveryAt      *time.Time      `json:"lastDeliveryAt,omitempty"`
	LastDeliveryStatus  *DeliveryStatus `json:"lastDeliveryStatus,omitempty"`
	LastError           *string         `json:"lastError,omitempty"`
	Interactive         bool            `json:"interactive"`
	AllowedSlackUserIds []string        `json:"allowedSlackUserIds,omitempty"`
	Ordering            Ordering        `json:"ordering"`
}

// Delivery is one event's delivery to one channel. The event is resolved.
type Delivery struct {
	ID                     string         `json:"id"`
	ChannelID              string         `json:"channelId"`
	EventID                string         `json:"-"`
	Status                 DeliveryStatus `json:"status"`
	Attempts               int            `json:"attempts"`
	UnknownOutcomeAttempts int            `json:"unknownOutcomeAttempts"`
	LastStatusCode         *int           `json:"lastStatusCode,omitempty"`
	LastError              *string        `json:"lastError,omitempty"`
	NextAttemptAt          *time.Time     `json:"nextAttemptAt,omitempty"`
	DeliveredAt            *time.Time     `json:"deliveredAt,omitempty"`
	CreatedAt              time.Time      `json:"createdAt"`
}
