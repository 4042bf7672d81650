// Package live streams events to GraphQL subscribers as they commit. The
// Feed publishes every committed event to this instance's broker exactly
// once and in ID order; Subscriptions builds the projectEvents and
// approvalUpdated streams on it, replaying from the events table and
// rechecking the subscriber's credentials while they run.
package live

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
)

// catchUpPage is how many events one catch-up query reads.
const catchUpPage = 500

// FeedOptions configures a Feed.
type FeedOptions struct {
	// Buffer is the default per-subscriber buffer of the broker.
	Buffer int
	Logger *slog.Logger
	// Listener tunes the PostgreSQL listener (reconnect backoff, health
	// checks); its Channel, OnReconnect and Logger are set by the feed.
	Listener event.ListenerOptions
}

// heldRetry is how soon the feed reads again while committed events are
// held back behind an open transaction that records no event (and so
// sends no notification when it ends).
const heldRetry = 5 * time.Millisecond

// announceSpacing is the least time between two announcements of an
// instance: the commits of the spacing share one NOTIFY, and the other
// instances' subscribers get an event at most this much later than the
// recording instance's own.
const announceSpacing = 2 * time.Millisecond

// Feed publishes committed events to the broker of this instance. There is
// one publication path per database, so no event is published twice:
//
//   - SQLite (one instance): the recorder's after-commit function.
//   - PostgreSQL: the reading loop, woken by the recorder's after-commit
//     function on the recording instance and, on every other instance,
//     by the NOTIFY the recording instance sends after the commit.
//
// Either way the feed is an event.Consumer whose handler publishes: the
// signal only says "read the log again", and the consumer reads the final
// events after the last one published from the table, in log order (see
// event.Since). So it publishes each event once, in order; a lost signal
// (a dropped listener connection) is made good by the next one or by the
// catch-up after reconnecting; and signals that arrive while a read runs
// are answered by one more read. While this instance has no subscriber
// the PostgreSQL feed skips its reads (see Subscribe).
type Feed struct {
	store  *store.Store
	broker *event.Broker
	log    *slog.Logger
	reader *event.Consumer

	closed    chan struct{} // closed by Close: running streams end
	closeOnce sync.Once
}

// StartFeed starts publishing the events rec records (and, on PostgreSQL,
// those recorded by other instances). On PostgreSQL it returns once the
// listener is listening.
func StartFeed(ctx context.Context, st *store.Store, rec *event.Recorder, opts FeedOptions) (*Feed, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	last, err := event.LastFinal(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("start live feed: %w", err)
	}
	f := &Feed{
		store:  st,
		broker: event.NewBroker(event.BrokerOptions{Buffer: opts.Buffer, Logger: opts.Logger}),
		log:    opts.Logger,
		closed: make(chan struct{}),
	}
	shared := st.EventLog().Shared()
	copts := event.ConsumerOptions{
		Name:      "live feed reading new events",
		Batch:     catchUpPage,
		HeldRetry: heldRetry,
		// Each instance reads its own commits at once and tells the
		// others after the fact. The NOTIFY is sent on its own, never
		// inside the recording transaction: a transaction that notifies
		// holds a lock of the whole PostgreSQL server from its commit
		// until the commit is flushed, which would make every write of
		// every tenant commit one at a time.
		Listen:          true,
		Listener:        opts.Listener,
		Announce:        true,
		AnnounceSpacing: announceSpacing,
		Inline:          true,
		Logger:          opts.Logger,
	}
	if shared {
		copts.Idle = f.broker.Empty
	}
	f.reader, err = event.StartConsumer(ctx, st, last, f.publish, copts)
	if err != nil {
		return nil, fmt.Errorf("start live feed: %w", err)
	}
	rec.OnCommit(f.reader.Committed)
	return f, nil
}

// publish is the feed's handler: it publishes a batch of the log.
func (f *Feed) publish(ctx context.Context, read event.ReadFunc) error {
	b, err := read(ctx, event.Position{})
	if err != nil {
		return err
	}
	for _, ev := range b.Events {
		f.broker.Publish(ev)
	}
	return nil
}

// Broker is where the feed publishes.
func (f *Feed) Broker() *event.Broker { return f.broker }

// Subscribe subscribes to the broker (see event.Broker.Subscribe) once
// the feed will publish every event that is not final yet. While nobody
// subscribes, the feed on PostgreSQL reads nothing, so the first
// subscriber after a pause moves it to the last final event: the events
// up to there are the replay's to read, those after it are published.
func (f *Feed) Subscribe(ctx context.Context, filter event.Filter, buffer int) *event.Subscription {
	var sub *event.Subscription
	f.reader.Hold(func(pos event.Position) event.Position {
		// With no subscriber, pos may be behind however long ago the
		// reading loop last ran: a signal may be waiting for it still.
		if f.store.EventLog().Shared() && f.broker.Empty() {
			last, err := event.LastFinal(ctx, f.store)
			switch {
			case err != nil:
				// Publishing from the old position loses nothing:
				// subscribers skip what they replayed, and the rest is
				// merely older.
				f.log.Error("live feed could not find the end of the log; publishing from where it paused", "err", err)
			case pos.Before(last):
				pos = last
			}
			// Events committed while nobody subscribed but not final yet
			// were announced to a feed that did not read: read again.
			f.reader.Wake()
		}
		sub = f.broker.Subscribe(ctx, filter, buffer)
		return pos
	})
	return sub
}

// Closed is closed when the feed stops; streams end then.
func (f *Feed) Closed() <-chan struct{} { return f.closed }

// Close stops the listener and ends the running streams. It is idempotent.
func (f *Feed) Close() error {
	f.closeOnce.Do(func() {
		close(f.closed)
		f.reader.Close()
	})
	return nil
}
