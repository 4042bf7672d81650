package event

import (
	"context"

	"github.com/ottr/backend/internal/platform/store/eventlog"
)

// The listener that hears other instances' commits is the PostgreSQL
// event-log driver's (eventlog.Listener); these names keep it reachable
// where the log is read.

// ChannelName is the channel on which instances announce that they
// committed events (see eventlog.ChannelName).
const ChannelName = eventlog.ChannelName

// ListenerOptions configures a Listener.
type ListenerOptions = eventlog.ListenerOptions

// Listener hears the announcements of other instances.
type Listener = eventlog.Listener

// NewListener returns a listener connecting to dsn (see
// eventlog.NewListener).
func NewListener(dsn string, notify func(ctx context.Context, id int64), opts ListenerOptions) (*Listener, error) {
	return eventlog.NewListener(dsn, notify, opts)
}
