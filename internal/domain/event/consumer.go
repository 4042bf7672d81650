package event

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ottr/backend/internal/platform/store"
)

// A Consumer reads the log after its position and hands it, batch by
// batch, to its handler: the delivery fan-out and the live feed are two.
// It owns what they share:
//
//   - the position, of the last event handled;
//   - the wake-ups: this instance's commits (Committed), the other
//     instances' announcements (Listen), a poll (Poll), and Wake;
//   - the reads: the final events after the position (Since), batch
//     after batch while batches come full. Events held back behind an
//     older open transaction are read again HeldRetry later, never
//     skipped: the position stops before them.
//
// A signal only says "read the log again": one pending wake-up stands for
// any number, and wake-ups that arrive while a read runs are answered by
// one more read. A lost one (a dropped listener connection, an instance
// that stopped) is made good by the next one, the reconnect or the poll.
type Consumer struct {
	store  *store.Store
	handle Handler
	opts   ConsumerOptions
	log    *slog.Logger
	inline bool // Inline on a store that is not shared

	mu  sync.Mutex // held while a batch is read and handled (see Hold)
	pos Position   // of the last event handled

	wake     chan struct{}
	announce chan struct{}
	instance int64 // this consumer's announcements' payload
	stop     context.CancelFunc
	done     sync.WaitGroup // the listener, the reading loop, the announcer
}

// A Handler handles one batch. It calls read once, in the context the
// read must run in (the fan-out's: its transaction, under its lock), and
// handles the batch's events. The position moves past them once Handler
// returns nil; after an error the batch is read again at the next
// wake-up.
type Handler func(ctx context.Context, read ReadFunc) error

// ReadFunc reads the final events after the later of from and the
// consumer's position: from is a position of the handler's own (the
// fan-out's durable cursor, which other instances move on), or the zero
// Position to read from the consumer's.
type ReadFunc func(ctx context.Context, from Position) (Batch, error)

// Batch is one read of the log.
type Batch struct {
	// From is the position the batch was read after.
	From Position
	// Events are the final events after From, in log order.
	Events []Event
	// Held reports committed events after them that are not final yet.
	Held bool
}

// Last is the position of the batch's last event, From when it has none.
func (b Batch) Last() Position {
	if len(b.Events) == 0 {
		return b.From
	}
	return b.Events[len(b.Events)-1].Position()
}

// ConsumerOptions configures a Consumer.
type ConsumerOptions struct {
	// Name is what the consumer does, in its log lines ("fanning out
	// Slack deliveries failed; ...").
	Name string
	// Batch is how many events one read returns at most.
	Batch int
	// HeldRetry is how soon the consumer reads again while committed
	// events are held back behind an open transaction: one that records
	// no event sends no signal when it ends.
	HeldRetry time.Duration
	// Poll, when set, reads the log this often besides the wake-ups (the
	// events of an instance that stopped before handling them).
	Poll time.Duration
	// Spacing is the least time from the start of one round of reads to
	// the next: under load the commits of the spacing share one read.
	Spacing time.Duration
	// Listen, where the store is shared, wakes the consumer on the other
	// instances' announcements, and StartConsumer returns once it hears
	// them. Listener tunes the listener; its OnReconnect and Logger are
	// the consumer's.
	Listen   bool
	Listener ListenerOptions
	// ListenTimeout bounds how long StartConsumer waits for LISTEN;
	// zero means 15s.
	ListenTimeout time.Duration
	// Announce, where the store is shared, tells the other instances of
	// this instance's commits: one announcement, sent on its own after
	// the commits, stands for all of them until it is sent, and they
	// are at least AnnounceSpacing apart.
	Announce        bool
	AnnounceSpacing time.Duration
	// Inline, where the store is not shared (one writer commits at a
	// time, IDs in commit order), handles each commit in the committing
	// goroutine, as the next event after the position, instead of waking
	// a reading loop; there is no loop then.
	Inline bool
	// Idle, when set and true, has a wake-up read nothing: the position
	// stays where it is (see Hold). Not asked of Inline commits.
	Idle func() bool
	// Logger receives failed reads and announcements; nil means
	// slog.Default().
	Logger *slog.Logger
}

// defaultListenTimeout: a server that cannot hear other instances would
// serve stale reads silently, so starting fails instead.
const defaultListenTimeout = 15 * time.Second

// StartConsumer starts reading the log after from with handle, at once
// (events committed while nobody read) and at every wake-up, until Close.
// With Listen it returns once the listener is listening.
func StartConsumer(ctx context.Context, st *store.Store, from Position, handle Handler, opts ConsumerOptions) (*Consumer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ListenTimeout <= 0 {
		opts.ListenTimeout = defaultListenTimeout
	}
	shared := st.EventLog().Shared()
	c := &Consumer{
		store:    st,
		handle:   handle,
		opts:     opts,
		log:      opts.Logger,
		inline:   opts.Inline && !shared,
		pos:      from,
		wake:     make(chan struct{}, 1),
		announce: make(chan struct{}, 1),
		instance: rand.Int64(),
		stop:     func() {},
	}
	if c.inline {
		return c, nil
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = stop
	if opts.Listen && shared {
		if err := c.listen(runCtx); err != nil {
			c.Close()
			return nil, err
		}
	}
	if opts.Announce && shared {
		c.done.Go(func() { c.announceCommits(runCtx) })
	}
	// Events committed before the consumer (or LISTEN) started were
	// announced to nobody.
	c.Wake()
	c.done.Go(func() { c.run(runCtx) })
	return c, nil
}

// listen starts a listener that wakes the consumer on every other
// instance's announcement, and waits until it listens.
func (c *Consumer) listen(ctx context.Context) error {
	lopts := c.opts.Listener
	lopts.Channel = ChannelName
	lopts.Logger = c.opts.Logger
	lopts.OnReconnect = func(context.Context) { c.Wake() } // announcements sent while disconnected are lost
	l, err := c.store.EventLog().NewListener(func(_ context.Context, from int64) {
		if from != c.instance {
			c.Wake()
		}
	}, lopts)
	if err != nil {
		return err
	}
	c.done.Go(func() {
		_ = l.Run(ctx) // returns nil when stopped; failures are retried and logged
	})
	select {
	case <-l.Ready():
		return nil
	case <-time.After(c.opts.ListenTimeout):
		return errors.New("could not LISTEN on PostgreSQL (is OTTR_DATABASE_URL a direct connection, not a transaction pooler?)")
	}
}

// Close stops the reading loop, the listener and the announcements, and
// waits for them. A read in flight ends with its context.
func (c *Consumer) Close() {
	c.stop()
	c.done.Wait()
}

// Committed is the event.Recorder's after-commit function: it wakes the
// consumer and, with Announce, the other instances; with Inline it
// handles ev at once. It never blocks on the other instances.
func (c *Consumer) Committed(ev Event) {
	if c.inline {
		c.committedInline(ev)
		return
	}
	c.Wake()
	if c.opts.Announce {
		select {
		case c.announce <- struct{}{}:
		default:
		}
	}
}

// Wake asks the consumer to read the log again. It never blocks.
func (c *Consumer) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Hold runs fn with the position while no batch is read, and moves the
// position on to what fn returns when that is later: a consumer that was
// Idle may skip what nobody needed (the live feed, to the end of the log
// when its first subscriber comes).
func (c *Consumer) Hold(fn func(pos Position) Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if next := fn(c.pos); c.pos.Before(next) {
		c.pos = next
	}
}

// committedInline handles ev when it is the next event of the log
// (SQLite). The committing goroutines may call this in another order than
// they committed; an event whose predecessor has not been handled yet is
// handled by reading the log, in order, and the predecessor's own call
// then finds it handled.
func (c *Consumer) committedInline(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case ev.ID <= c.pos.ID:
	case ev.ID == c.pos.ID+1:
		err := c.handleLocked(context.Background(), func(context.Context, Position) (Batch, error) {
			return Batch{From: c.pos, Events: []Event{ev}}, nil
		})
		if err != nil {
			c.log.Error(c.opts.Name+" failed; the event follows with the next one", "event", ev.ID, "err", err)
		}
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.readLocked(ctx)
	}
}

// run reads the log at every wake-up, every Poll, and HeldRetry after a
// read that found events held back, until ctx ends.
func (c *Consumer) run(ctx context.Context) {
	var poll <-chan time.Time
	if c.opts.Poll > 0 {
		ticker := time.NewTicker(c.opts.Poll)
		defer ticker.Stop()
		poll = ticker.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-poll:
		case <-retry.C:
		}
		started := time.Now()
		if c.read(ctx) {
			retry.Reset(c.opts.HeldRetry)
		}
		if !pause(ctx, c.opts.Spacing-time.Since(started)) {
			return
		}
	}
}

// read reads and handles batches until one is short or held back, and
// reports whether committed events are held back.
func (c *Consumer) read(ctx context.Context) (held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Idle != nil && c.opts.Idle() {
		return false
	}
	return c.readLocked(ctx)
}

func (c *Consumer) readLocked(ctx context.Context) (held bool) {
	for {
		var b Batch
		err := c.handleLocked(ctx, func(ctx context.Context, from Position) (Batch, error) {
			if from.Before(c.pos) {
				from = c.pos
			}
			events, held, err := Since(ctx, c.store, from, c.opts.Batch)
			b = Batch{From: from, Events: events, Held: held}
			return b, err
		})
		if err != nil {
			// The rest waits for the next wake-up or poll.
			if ctx.Err() == nil {
				c.log.Error(c.opts.Name+" failed; reading again with the next event or poll", "after", c.pos.ID, "err", err)
			}
			return false
		}
		if b.Held || len(b.Events) < c.opts.Batch {
			return b.Held
		}
	}
}

// handleLocked runs the handler on one batch and moves the position past
// its events when the handler succeeds.
func (c *Consumer) handleLocked(ctx context.Context, read ReadFunc) error {
	var last Position
	var n int
	err := c.handle(ctx, func(ctx context.Context, from Position) (Batch, error) {
		b, err := read(ctx, from)
		last, n = b.Last(), len(b.Events)
		return b, err
	})
	if err != nil {
		return err
	}
	if n > 0 {
		c.pos = last
	}
	return nil
}

// announceCommits sends one announcement for every run of commits of this
// instance, at most one per AnnounceSpacing, until ctx ends. A lost one is
// made good by the next one, or by the other instances' reads after they
// reconnect.
func (c *Consumer) announceCommits(ctx context.Context) {
	payload := strconv.FormatInt(c.instance, 10)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.announce:
		}
		started := time.Now()
		if err := c.store.EventLog().Notify(ctx, payload); err != nil && ctx.Err() == nil {
			c.log.Error(c.opts.Name+" could not announce new events to the other instances", "err", err)
		}
		if !pause(ctx, c.opts.AnnounceSpacing-time.Since(started)) {
			return
		}
	}
}

// pause waits for d, and reports false when ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
