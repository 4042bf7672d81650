package model

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"
)

// DeliveryKind is the kind of channel a delivery goes to (written here
// rather than generated, for the constants' names).
type DeliveryKind string

// The delivery kinds.
const (
	DeliveryKindSlack    DeliveryKind = "SLACK"
	DeliveryKindWebhook  DeliveryKind = "WEBHOOK"
	DeliveryKindCallback DeliveryKind = "CALLBACK"
)

// IsValid reports whether e is one of the kinds.
func (e DeliveryKind) IsValid() bool {
	switch e {
	case DeliveryKindSlack, DeliveryKindWebhook, DeliveryKindCallback:
		return true
	}
	return false
}

func (e DeliveryKind) String() string { return string(e) }

// UnmarshalGQL reads the enum's value.
func (e *DeliveryKind) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("enums must be strings")
	}
	*e = DeliveryKind(str)
	if !e.IsValid() {
		return fmt.Errorf("%s is not a valid DeliveryKind", str)
	}
	return nil
}

// MarshalGQL writes the enum's value.
func (e DeliveryKind) MarshalGQL(w io.Writer) { _, _ = fmt.Fprint(w, strconv.Quote(e.String())) }

// UnmarshalJSON reads the enum's value from JSON.
func (e *DeliveryKind) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	return e.UnmarshalGQL(s)
}

// MarshalJSON writes the enum's value as JSON.
func (e DeliveryKind) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	e.MarshalGQL(&buf)
	return buf.Bytes(), nil
}

// Every kind of delivery is a node and an entry of the delivery log
// (DeliveryLogEntry). Its event is resolved (graph/loaders.go), not
// carried: GetEvent is nil.

func (WebhookDelivery) IsNode()          {}
func (d WebhookDelivery) GetID() string  { return d.ID }
func (CallbackDelivery) IsNode()         {}
func (d CallbackDelivery) GetID() string { return d.ID }

// Kind is SLACK.
func (Delivery) Kind() DeliveryKind { return DeliveryKindSlack }

// Kind is WEBHOOK.
func (WebhookDelivery) Kind() DeliveryKind { return DeliveryKindWebhook }

// Kind is CALLBACK.
func (CallbackDelivery) Kind() DeliveryKind { return DeliveryKindCallback }

// ChannelID is the endpoint's id.
func (d WebhookDelivery) ChannelID() string { return d.EndpointID }

// ChannelID is the approval's id.
func (d CallbackDelivery) ChannelID() string { return d.ApprovalID }

func (Delivery) IsDeliveryLogEntry()              {}
func (d Delivery) GetKind() DeliveryKind          { return d.Kind() }
func (d Delivery) GetChannelID() string           { return d.ChannelID }
func (Delivery) GetEvent() *Event                 { return nil }
func (d Delivery) GetStatus() DeliveryStatus      { return d.Status }
func (d Delivery) GetAttempts() int               { return d.Attempts }
func (d Delivery) GetUnknownOutcomeAttempts() int { return d.UnknownOutcomeAttempts }
func (d Delivery) GetLastStatusCode() *int        { return d.LastStatusCode }
func (d Delivery) GetLastError() *string          { return d.LastError }
func (d Delivery) GetNextAttemptAt() *time.Time   { return d.NextAttemptAt }
func (d Delivery) GetDeliveredAt() *time.Time     { return d.DeliveredAt }
func (d Delivery) GetCreatedAt() time.Time        { return d.CreatedAt }

func (WebhookDelivery) IsDeliveryLogEntry()              {}
func (d WebhookDelivery) GetKind() DeliveryKind          { return d.Kind() }
func (d WebhookDelivery) GetChannelID() string           { return d.EndpointID }
func (WebhookDelivery) GetEvent() *Event                 { return nil }
func (d WebhookDelivery) GetStatus() DeliveryStatus      { return d.Status }
func (d WebhookDelivery) GetAttempts() int               { return d.Attempts }
func (d WebhookDelivery) GetUnknownOutcomeAttempts() int { return d.UnknownOutcomeAttempts }
func (d WebhookDelivery) GetLastStatusCode() *int        { return d.LastStatusCode }
func (d WebhookDelivery) GetLastError() *string          { return d.LastError }
func (d WebhookDelivery) GetNextAttemptAt() *time.Time   { return d.NextAttemptAt }
func (d WebhookDelivery) GetDeliveredAt() *time.Time     { return d.DeliveredAt }
func (d WebhookDelivery) GetCreatedAt() time.Time        { return d.CreatedAt }

func (CallbackDelivery) IsDeliveryLogEntry()              {}
func (d CallbackDelivery) GetKind() DeliveryKind          { return d.Kind() }
func (d CallbackDelivery) GetChannelID() string           { return d.ApprovalID }
func (CallbackDelivery) GetEvent() *Event                 { return nil }
func (d CallbackDelivery) GetStatus() DeliveryStatus      { return d.Status }
func (d CallbackDelivery) GetAttempts() int               { return d.Attempts }
func (d CallbackDelivery) GetUnknownOutcomeAttempts() int { return d.UnknownOutcomeAttempts }
func (d CallbackDelivery) GetLastStatusCode() *int        { return d.LastStatusCode }
func (d CallbackDelivery) GetLastError() *string          { return d.LastError }
func (d CallbackDelivery) GetNextAttemptAt() *time.Time   { return d.NextAttemptAt }
func (d CallbackDelivery) GetDeliveredAt() *time.Time     { return d.DeliveredAt }
func (d CallbackDelivery) GetCreatedAt() time.Time        { return d.CreatedAt }
