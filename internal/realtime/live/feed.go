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
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
)

// catchUpPage is how many events one catch-up query reads.
const catchUpPage = 500

// listenTimeout bounds how long StartFeed waits for LISTEN: a server that
// cannot hear other instances would serve stale subscriptions silently.
const listenTimeout = 15 * time.Second

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

// Feed publishes committed events to the broker of this instance. There is
// one publication path per database, so no event is published twice:
//
//   - SQLite (one instance): the recorder's after-commit function.
//   - PostgreSQL: the reading loop, woken by the recorder's after-commit
//     function on the recording instance and, on every other instance,
//     by the NOTIFY the recording instance sends after the commit.
//
// Either way the signal only says "read the log again": the feed reads the
// final events after the last one it published from the table, in log
// order (see event.Since). So it publishes each event once, in order; a
// lost signal (a dropped listener connection) is made good by the next
// one or by the catch-up after reconnecting; and signals that arrive
// while a read runs are answered by one more read. While this instance
// has no subscriber the PostgreSQL feed skips its reads (see Subscribe).
type Feed struct {
	store  *store.Store
	broker *event.Broker
	log    *slog.Logger

	mu   sync.Mutex
	last event.Position // of the last event published; behind the log while nobody subscribes (PostgreSQL)

	wake      chan struct{} // PostgreSQL: a signal to read the log again
	announce  chan struct{} // PostgreSQL: tell the other instances to read
	instance  int64         // PostgreSQL: this instance's announcements' payload
	closed    chan struct{} // closed by Close: running streams end
	closeOnce sync.Once
	stop      context.CancelFunc
	done      sync.WaitGroup // the listener and the reading loop
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
		store:    st,
		broker:   event.NewBroker(event.BrokerOptions{Buffer: opts.Buffer, Logger: opts.Logger}),
		log:      opts.Logger,
		last:     last,
		wake:     make(chan struct{}, 1),
		announce: make(chan struct{}, 1),
		instance: rand.Int64(),
		closed:   make(chan struct{}),
		stop:     func() {},
	}
	drv := st.EventLog()
	if !drv.Shared() {
		rec.OnCommit(f.committed)
		return f, nil
	}

	// Each instance reads its own commits at once and tells the others
	// after the fact. The NOTIFY is sent on its own, never inside the
	// recording transaction: a transaction that notifies holds a lock of
	// the whole PostgreSQL server from its commit until the commit is
	// flushed, which would make every write of every tenant commit one at
	// a time. One announcement at a time stands for all commits until it
	// is sent.
	rec.OnCommit(func(event.Event) {
		f.signal()
		select {
		case f.announce <- struct{}{}:
		default:
		}
	})
	lopts := opts.Listener
	lopts.Channel = event.ChannelName
	lopts.Logger = opts.Logger
	lopts.OnReconnect = func(context.Context) { f.signal() } // notifications sent while disconnected are lost
	l, err := drv.NewListener(func(_ context.Context, from int64) {
		if from != f.instance {
			f.signal()
		}
	}, lopts)
	if err != nil {
		return nil, fmt.Errorf("start live feed: %w", err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stop = stop
	f.done.Go(func() {
		_ = l.Run(runCtx) // returns nil when stopped; failures are retried and logged
	})
	select {
	case <-l.Ready():
	case <-time.After(listenTimeout):
		_ = f.Close()
		return nil, errors.New("start live feed: could not LISTEN on PostgreSQL (is OTTR_DATABASE_URL a direct connection, not a transaction pooler?)")
	}
	// Events committed before LISTEN took effect were announced to nobody.
	f.signal()
	f.done.Go(func() { f.read(runCtx) })
	f.done.Go(func() { f.announceCommits(runCtx) })
	return f, nil
}

// Broker is where the feed publishes.
func (f *Feed) Broker() *event.Broker { return f.broker }

// Subscribe subscribes to the broker (see event.Broker.Subscribe) once
// the feed will publish every event that is not final yet. While nobody
// subscribes, the feed on PostgreSQL reads nothing, so the first
// subscriber after a pause moves it to the last final event: the events
// up to there are the replay's to read, those after it are published.
func (f *Feed) Subscribe(ctx context.Context, filter event.Filter, buffer int) *event.Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	// With no subscriber, last may be behind however long ago the reading
	// loop last ran: a signal may be waiting for it still.
	if f.store.EventLog().Shared() && f.broker.Empty() {
		last, err := event.LastFinal(ctx, f.store)
		switch {
		case err != nil:
			// Publishing from the old position loses nothing: subscribers
			// skip what they replayed, and the rest is merely older.
			f.log.Error("live feed could not find the end of the log; publishing from where it paused", "err", err)
		case f.last.Before(last):
			f.last = last
		}
		// Events committed while nobody subscribed but not final yet
		// were announced to a feed that did not read: read again.
		f.signal()
	}
	return f.broker.Subscribe(ctx, filter, buffer)
}

// Closed is closed when the feed stops; streams end then.
func (f *Feed) Closed() <-chan struct{} { return f.closed }

// Close stops the listener and ends the running streams. It is idempotent.
func (f *Feed) Close() error {
	f.closeOnce.Do(func() {
		close(f.closed)
		f.stop()
		f.done.Wait()
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
	case ev.ID <= f.last.ID:
	case ev.ID == f.last.ID+1:
		f.broker.Publish(ev)
		f.last = ev.Position()
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.catchUpLocked(ctx)
	}
}

// announceSpacing is the least time between two announcements of an
// instance: the commits of the spacing share one NOTIFY, and the other
// instances' subscribers get an event at most this much later than the
// recording instance's own.
const announceSpacing = 2 * time.Millisecond

// announceCommits sends one NOTIFY for every run of commits of this
// instance, at most one per announceSpacing, until ctx ends (PostgreSQL).
// A lost announcement is made good by the next one, or by the other
// instances' reads after reconnecting.
func (f *Feed) announceCommits(ctx context.Context) {
	payload := strconv.FormatInt(f.instance, 10)
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.announce:
		}
		started := time.Now()
		if err := f.store.EventLog().Notify(ctx, payload); err != nil && ctx.Err() == nil {
			f.log.Error("live feed could not announce new events to the other instances", "err", err)
		}
		if wait := announceSpacing - time.Since(started); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// signal asks the reading loop to read the log again (PostgreSQL). It
// never blocks: one pending signal stands for any number.
func (f *Feed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// read reads the log each time it is signalled, and again shortly while
// committed events are held back, until ctx ends (PostgreSQL).
func (f *Feed) read(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-retry.C:
		}
		f.mu.Lock()
		var held bool
		if !f.broker.Empty() {
			held = f.catchUpLocked(ctx)
		}
		f.mu.Unlock()
		if held {
			retry.Reset(heldRetry)
		}
	}
}

// catchUpLocked publishes the final events after the last one published
// and reports whether committed events are held back. On a read failure
// the rest waits for the next signal.
func (f *Feed) catchUpLocked(ctx context.Context) (held bool) {
	for {
		events, held, err := event.Since(ctx, f.store, f.last, catchUpPage)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Error("live feed could not read new events; they follow with the next one", "after", f.last.ID, "err", err)
			}
			return false
		}
		for _, ev := range events {
			f.broker.Publish(ev)
			f.last = ev.Position()
		}
		if held || len(events) < catchUpPage {
			return held
		}
	}
}
