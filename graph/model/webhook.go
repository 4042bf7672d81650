package model

import "time"

// WebhookEndpoint is one webhook endpoint. Deliveries are resolved.
type WebhookEndpoint struct {
	ID                      string          `json:"id"`
	ProjectID               string          `json:"-"`
	Name                    string          `json:"name"`
	URLMasked               string          `json:"urlMasked"`
	Events                  []EventType     `json:"events"`
	Enabled                 bool            `json:"enabled"`
	DisabledReason          *string         `json:"disabledReason,omitempty"`
	CreatedAt               time.Time       `json:"createdAt"`
	UpdatedAt               time.Time       `json:"updatedAt"`
	LastDeliveryAt          *time.Time      `json:"lastDeliveryAt,omitempty"`
	LastDeliveryStatus      *DeliveryStatus `json:"lastDeliveryStatus,omitempty"`
	LastError               *string         `json:"lastError,omitempty"`
	PreviousSecretExpiresAt *time.Time      `json:"previousSecretExpiresAt,omitempty"`
	Ordering                Ordering        `json:"ordering"`
}

func (WebhookEndpoint) IsNode()         {}
func (e WebhookEndpoint) GetID() string { return e.ID }

// WebhookDelivery is one event's delivery to one endpoint. The event is
// resolved.
type WebhookDelivery struct {
	ID                     string         `json:"id"`
	EndpointID             string         `json:"endpointId"`
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
