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

// Approval is one request for a decision. Project and events are resolved,
// unless the project's list it came from set them (InProject,
// EventsPreloaded).
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
	InProject          *Project          `json:"-"`
	EventsPreloaded    bool              `json:"-"`
	PreloadedEvents    []*Event          `json:"-"`
}

// KeyValue is one entry of a project's key/value store. Its pending
// approval is resolved, unless the list it is part of loaded those of all
// its keys at once (PendingPreloaded).
type KeyValue struct {
	ProjectID        string    `json:"-"`
	Path             string    `json:"path"`
	Value            *string   `json:"value,omitempty"`
	UpdatedAt        time.Time `json:"updatedAt"`
	PendingPreloaded bool      `json:"-"`
	Pending          *Approval `json:"-"`
}

// SlackChannel is one configured incoming webhook. Deliveries are resolved.
type SlackChannel struct {
	ID                 string          `json:"id"`
	ProjectID          string          `json:"-"`
	Name               string          `json:"name"`
	WebhookURLMasked   string          `json:"webhookUrlMasked"`
	Events             []EventType     `json:"events"`
	Enabled            bool            `json:"enabled"`
	DisabledReason     *string         `json:"disabledReason,omitempty"`
	CreatedAt          time.Time       `json:"createdAt"`
	UpdatedAt          time.Time       `json:"updatedAt"`
	LastDeliveryAt     *time.Time      `json:"lastDeliveryAt,omitempty"`
	LastDeliveryStatus *DeliveryStatus `json:"lastDeliveryStatus,omitempty"`
	LastError          *string         `json:"lastError,omitempty"`
}

// Delivery is one event's delivery to one channel. The event is resolved.
type Delivery struct {
	ID             string         `json:"id"`
	ChannelID      string         `json:"channelId"`
	EventID        string         `json:"-"`
	Status         DeliveryStatus `json:"status"`
	Attempts       int            `json:"attempts"`
	LastStatusCode *int           `json:"lastStatusCode,omitempty"`
	LastError      *string        `json:"lastError,omitempty"`
	NextAttemptAt  *time.Time     `json:"nextAttemptAt,omitempty"`
	DeliveredAt    *time.Time     `json:"deliveredAt,omitempty"`
	CreatedAt      time.Time      `json:"createdAt"`
}
