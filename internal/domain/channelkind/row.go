package channelkind

import (
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/apperr"
)

// Common are the columns every kind's row has. A kind's row embeds it, so
// its fields read as the row's own (c.Name, e.Enabled).
type Common struct {
	ID        string
	ProjectID string
	Name      string
	Events    EventSet
	// Ordering is how the channel's messages are ordered.
	Ordering       Ordering
	Enabled        bool
	DisabledReason *string
	// The last delivery's outcome, set by the dispatcher.
	LastDeliveryAt     *time.Time
	LastDeliveryStatus *string
	LastError          *string
	CreatedAt          time.Time
	UpdatedAt          time.Time

	// Masked is the displayed form of the URL, filled in when the row is
	// loaded through a Service.
	Masked string `gorm:"-"`
}

// common gives the Service the shared columns of any kind's row; being
// unexported, only a row that embeds Common has it.
func (c *Common) common() *Common { return c }

// Selects reports whether the channel wants events of type t.
func (c *Common) Selects(t event.Type) bool { return slices.Contains(c.Events, t) }

// Row is a pointer to a kind's row R: one that embeds Common and tells
// where its encrypted URL is kept.
type Row[R any] interface {
	*R
	common() *Common
	// SealedURL points at the row's encrypted URL and its key's version.
	SealedURL() (ciphertext *string, keyVersion *int)
}

// EventSet is a channel's event selection, stored as a comma-separated
// list in event.AllTypes order.
type EventSet []event.Type

// Value stores the set as text.
func (s EventSet) Value() (driver.Value, error) {
	parts := make([]string, len(s))
	for i, t := range s {
		parts[i] = string(t)
	}
	return strings.Join(parts, ","), nil
}

// Scan reads the stored text.
func (s *EventSet) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("scan event set: unexpected %T", src)
	}
	*s = nil
	for _, part := range strings.Split(text, ",") {
		if part != "" {
			*s = append(*s, event.Type(part))
		}
	}
	return nil
}

// Ordering is how a channel (a Slack channel or a webhook endpoint) orders
// the messages it is sent.
type Ordering string

const (
	// OrderPerApproval sends the messages about one approval one at a
	// time, in the order their events occurred: one that is retried or
	// rate limited holds back the later ones of the same approval until it
	// is delivered or given up on. Messages about different approvals do
	// not wait for each other.
	OrderPerApproval Ordering = "PER_APPROVAL"
	// OrderNone sends every message as soon as it can.
	OrderNone Ordering = "NONE"
)

// DefaultOrdering is a new channel's ordering.
const DefaultOrdering = OrderPerApproval

// ParseOrdering validates an ordering given as input; empty is the
// default.
func ParseOrdering(field, s string) (Ordering, error) {
	switch o := Ordering(s); o {
	case "":
		return DefaultOrdering, nil
	case OrderPerApproval, OrderNone:
		return o, nil
	}
	return "", apperr.Invalid(field, "%s must be PER_APPROVAL or NONE", field)
}
