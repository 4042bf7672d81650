package slack

import "github.com/ottr/backend/internal/platform/apperr"

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
