package event

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
)

// DefaultBuffer is the number of events a subscription may hold unread
// before it is dropped. It absorbs bursts (a bulk invalidation, a replay
// catching up) without letting one stalled dashboard pin unbounded memory.
const DefaultBuffer = 256

var (
	// ErrSlowSubscriber ends a subscription whose buffer was full when an
	// event was published. The subscriber has missed that event, so it must
	// reconnect and replay from its last seen ID rather than carry on with a
	// gap.
	ErrSlowSubscriber = errors.New("event: subscriber too slow, buffer full")

	// ErrSubscriptionClosed ends a subscription closed by its owner.
	ErrSubscriptionClosed = errors.New("event: subscription closed")
)

// BrokerOptions configures a Broker. The zero value is usable.
type BrokerOptions struct {
	// Buffer is the default per-subscription buffer; 0 means DefaultBuffer.
	Buffer int
	// Logger receives a warning for every dropped subscriber; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Filter selects the events a subscription receives. Subscriptions are
// always scoped to one project, which is what lets Publish touch only the
// subscribers of the event's project.
type Filter struct {
	ProjectID string
	// Types lists the event types wanted; empty means all types.
	Types []Type
}

func (f Filter) match(ev Event) bool {
	return len(f.Types) == 0 || slices.Contains(f.Types, ev.Type)
}

// Broker fans events out to the subscribers of this process. A publisher
// never waits for a subscriber: each subscription has a bounded buffer, and
// one that is full is dropped (its channel closed, Err = ErrSlowSubscriber).
// Dropping is safe because subscribers replay from the events table by ID
// when they reconnect, so the broker trades completeness of a live stream
// for a publisher that can never be stalled by a dashboard.
//
// A Broker is safe for concurrent use. It starts no goroutines.
type Broker struct {
	buffer int
	log    *slog.Logger

	mu        sync.Mutex
	byProject map[string]map[*Subscription]struct{}
}

// NewBroker returns an empty broker.
func NewBroker(opts BrokerOptions) *Broker {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Broker{
		buffer:    opts.Buffer,
		log:       opts.Logger,
		byProject: make(map[string]map[*Subscription]struct{}),
	}
}

// Subscription is one subscriber's stream. Its channel is closed when the
// subscription ends; Err then says why.
type Subscription struct {
	b      *Broker
	filter Filter
	ch     chan *Event // shared by all subscribers: read-only
	stop   func() bool // unregisters the context.AfterFunc

	err error // guarded by b.mu; set once, just before ch is closed
}

// Subscribe registers a subscriber for the events of filter.ProjectID
// that pass filter.Types, with room for buffer unread events (0 means the
// broker's default). The subscription ends, and its channel is closed,
// when ctx is done, when Close is called, or when the buffer overflows.
//
// Removal on ctx uses context.AfterFunc rather than a goroutine per
// subscription, so thousands of idle dashboards cost only their buffers.
func (b *Broker) Subscribe(ctx context.Context, filter Filter, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = b.buffer
	}
	s := &Subscription{
		b:      b,
		filter: Filter{ProjectID: filter.ProjectID, Types: slices.Clone(filter.Types)},
		ch:     make(chan *Event, buffer),
	}

	b.mu.Lock()
	subs := b.byProject[filter.ProjectID]
	if subs == nil {
		subs = make(map[*Subscription]struct{})
		b.byProject[filter.ProjectID] = subs
	}
	subs[s] = struct{}{}
	// Registered under the lock so that end, which may run at once if ctx is
	// already done, always finds stop set.
	s.stop = context.AfterFunc(ctx, func() { b.end(s, context.Cause(ctx)) })
	b.mu.Unlock()
	return s
}

// Empty reports whether nobody subscribes.
func (b *Broker) Empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byProject) == 0
}

// C returns the channel events are delivered on, in publish order. It is
// closed when the subscription ends. Every subscriber receives the same
// *Event: read it, never modify it. Pointers keep a subscription's buffer
// small (2 KiB for the default 256 events, where values would take 30 KiB),
// which is what thousands of dashboards cost.
func (s *Subscription) C() <-chan *Event { return s.ch }

// Err returns nil while the subscription is live, and afterwards why it
// ended: the context's error (or cause), ErrSlowSubscriber, or
// ErrSubscriptionClosed.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription. It is idempotent and safe to call
// concurrently with Publish and with the context ending.
func (s *Subscription) Close() { s.b.end(s, ErrSubscriptionClosed) }

// Publish delivers ev to every matching subscriber of ev.ProjectID without
// blocking. A subscriber whose buffer is full is dropped with
// ErrSlowSubscriber. Its cost is proportional to the subscribers of that
// project only.
//
// Publish holds the broker's lock while sending, so concurrent publishers
// are serialized and every subscriber sees the same order. Callers publish
// after commit; events committed by different goroutines may therefore
// arrive out of ID order, and consumers that need ID order must tolerate it.
func (b *Broker) Publish(ev Event) {
	var dropped int
	shared := &ev
	b.mu.Lock()
	for s := range b.byProject[ev.ProjectID] {
		if !s.filter.match(ev) {
			continue
		}
		select {
		case s.ch <- shared:
		default:
			b.endLocked(s, ErrSlowSubscriber)
			dropped++
		}
	}
	b.mu.Unlock()

	if dropped > 0 {
		// Logged outside the lock so a slow log handler cannot stall publishers.
		b.log.Warn("dropped slow event subscribers",
			"project_id", ev.ProjectID, "event_id", ev.ID, "dropped", dropped)
	}
}

func (b *Broker) end(s *Subscription, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLocked(s, err)
}

// endLocked removes s and closes its channel, once. Closing only under
// b.mu is what makes the non-blocking sends in Publish safe.
func (b *Broker) endLocked(s *Subscription, err error) {
	if s.err != nil {
		return
	}
	s.err = err
	s.stop()
	subs := b.byProject[s.filter.ProjectID]
	delete(subs, s)
	if len(subs) == 0 {
		delete(b.byProject, s.filter.ProjectID)
	}
	close(s.ch)
}
