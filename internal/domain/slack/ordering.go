package slack

import "github.com/ottr/backend/internal/domain/channelkind"

// Ordering is how a channel (a Slack channel or a webhook endpoint) orders
// the messages it is sent.
type Ordering = channelkind.Ordering

// The orderings, and a new channel's: see channelkind.
const (
	OrderPerApproval = channelkind.OrderPerApproval
	OrderNone        = channelkind.OrderNone
	DefaultOrdering  = channelkind.DefaultOrdering
)

// ParseOrdering validates an ordering given as input; empty is the
// default.
func ParseOrdering(field, s string) (Ordering, error) { return channelkind.ParseOrdering(field, s) }
