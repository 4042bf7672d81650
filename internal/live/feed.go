// Package live streams events to GraphQL subscribers as they commit. The
// Feed publishes every committed event to this instance's broker exactly
// once and in ID order; Subscriptions builds the projectEvents and
// approvalUpdated streams on it, replaying from the events table and
// rechecking the subscriber's credentials while they run.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/store"
)

// catchUpPage is how many events one catch-up query reads.
const catchUpPage = 500

// listenTimeout bounds how long StartFeed waits for LISTEN: a server that
// cannot hear other instances would serve stale subscriptions silently.
const listenTimeout = 15 * time.Second

// FeedOptions configures a Feed.
type FeedOptions struct {
	// DatabaseURL is the PostgreSQL URL the listener connects to directly
	// (not through a transaction pooler). Unused on SQLite.
	DatabaseURL string
	// Buffer is the default per-subscriber buffer of the broker.
	Buffer int
	Logger *slog.Logger
	// Listener tunes the PostgreSQL listener (reconnect backoff, health
	// checks); its Channel, OnReconnect and Logger are set by the feed.
	Listener event.ListenerOptions
}

// Feed publishes committed events to the broker of this instance. There is
// one publication path per database, so no event is published twice:
//
//   - SQLite (one instance): the recorder's after-commit function.
//   - PostgreSQL: only the LISTEN/NOTIFY listener. Every recording
//     transaction notifies the event ID on commit, and every instance,
//     the recording one included, hears it and publishes from there.
//
// Either way the signal only says "events up to ID n have committed": the
// feed reads the events after the last one it published from the table, in
// ID order. Events commit in ID order (see event.Recorder), so this
// publishes each event once, in order, and a lost signal (a dropped
// listener connection) is made good by the next one or by the catch-up
// after reconnecting.
type Feed struct {
	store  *store.Store
	broker *event.Broker
	log    *slog.Logger

	mu   sync.Mutex
	last int64 // ID of the last event published

	closed    chan struct{} // closed by Close: running streams end
	closeOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{} // closed when the listener has stopped
}

// StartFeed starts publishing the events rec records (and, on PostgreSQL,
// those recorded by other instances). On PostgreSQL it returns once the
// listener is listening.
func StartFeed(ctx context.Context, st *store.Store, rec *event.Recorder, opts FeedOptions) (*Feed, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	last, err := event.LastID(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("start live feed: %w", err)
	}
	f := &Feed{
		store:  st,
		broker: event.NewBroker(event.BrokerOptions{Buffer: opts.Buffer, Logger: opts.Logger}),
		log:    opts.Logger,
		last:   last,
		closed: make(chan struct{}),
		stop:   func() {},
		done:   make(chan struct{}),
	}
	if st.Dialect() != store.Postgres {
		close(f.done)
		rec.OnCommit(f.committed)
		return f, nil
	}

	rec.OnRecord(func(ctx context.Context, ev *event.Event) error {
		// Delivered by PostgreSQL when the transaction commits, never if it
		// rolls back.
		return st.DB(ctx).Exec("SELECT pg_notify(?, ?)", event.ChannelName, strconv.FormatInt(ev.ID, 10)).Error
	})
	lopts := opts.Listener
	lopts.Channel = event.ChannelName
	lopts.Logger = opts.Logger
	lopts.OnReconnect = f.catchUp // notifications sent while disconnected are lost
	l, err := event.NewListener(opts.DatabaseURL, f.notified, lopts)
	if err != nil {
		return nil, fmt.Errorf("start live feed: %w", err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stop = stop
	go func() {
		defer close(f.done)
		_ = l.Run(runCtx) // returns nil when stopped; failures are retried and logged
	}()
	select {
	case <-l.Ready():
	case <-time.After(listenTimeout):
		_ = f.Close()
		return nil, errors.New("start live feed: could not LISTEN on PostgreSQL (is OTTR_DATABASE_URL a direct connection, not a transaction pooler?)")
	}
	// Events committed before LISTEN took effect were announced to nobody.
	f.catchUp(runCtx)
	return f, nil
}

// Broker is where the feed publishes.
func (f *Feed) Broker() *event.Broker { return f.broker }

// Closed is closed when the feed stops; streams end then.
func (f *Feed) Closed() <-chan struct{} { return f.closed }

// Close stops the listener and ends the running streams. It is idempotent.
func (f *Feed) Close() error {
	f.closeOnce.Do(func() {
		close(f.closed)
		f.stop()
		<-f.done
	})
	return nil
}

// committed publishes ev after its transaction committed (SQLite). SQLite
// commits one transaction at a time, but the committing goroutines may call
// this in another order; an event whose predecessor has not been published
// yet is published by catching up from the table, in order, and the
// predecessor's own call then finds it published.
func (f *Feed) committed(ev event.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case ev.ID <= f.last:
	case ev.ID == f.last+1:
		f.broker.Publish(ev)
		f.last = ev.ID
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.catchUpLocked(ctx)
	}
}

// notified handles a notification (PostgreSQL): event id has committed,
// and with it every event before it.
func (f *Feed) notified(ctx context.Context, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id > f.last { // else published already, by the catch-up of an earlier notification
		f.catchUpLocked(ctx)
	}
}

func (f *Feed) catchUp(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catchUpLocked(ctx)
}

// catchUpLocked publishes the committed events after the last one
// published. On a read failure the rest waits for the next signal.
func (f *Feed) catchUpLocked(ctx context.Context) {
	for {
		events, err := event.Since(ctx, f.store, f.last, catchUpPage)
		if err != nil {
			f.log.Error("live feed could not read new events; they follow with the next one", "after", f.last, "err", err)
			return
		}
		for _, ev := range events {
			f.broker.Publish(ev)
			f.last = ev.ID
		}
		if len(events) < catchUpPage {
			return
		}
	}
}
