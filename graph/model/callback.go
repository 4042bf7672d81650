package model

import "time"

// CallbackDelivery is one event's delivery to its approval's callback. The
// event is resolved.
type CallbackDelivery struct {
	ID                     string         `json:"id"`
	ApprovalID             string         `json:"approvalId"`
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
