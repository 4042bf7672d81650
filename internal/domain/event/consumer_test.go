package event

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// handled is what a test consumer's handler saw: each batch, and each
// event in order.
type handled struct {
	batches chan Batch
	events  chan Event
}

// publishTo is a handler that reads from the consumer's position and
// hands the batch and its events to h; fail, when set and true for the
// batch read, fails it instead.
func publishTo(h handled, fail func(Batch) bool) Handler {
	return func(ctx context.Context, read ReadFunc) error {
		b, err := read(ctx, Position{})
		if err != nil {
			return err
		}
		if fail != nil && fail(b) {
			return errors.New("handler failed")
		}
		for _, ev := range b.Events {
			h.events <- ev
		}
		select {
		case h.batches <- b:
		default: // tests that wait for no batch leave them unread
		}
		return nil
	}
}

// startConsumer starts a consumer from the start of st's log, closed at
// the end of the test.
func startConsumer(t *testing.T, st *store.Store, opts ConsumerOptions, fail func(Batch) bool) (*Consumer, handled) {
	t.Helper()
	h := handled{batches: make(chan Batch, 64), events: make(chan Event, 64)}
	if opts.Batch == 0 {
		opts.Batch = 100
	}
	if opts.HeldRetry == 0 {
		opts.HeldRetry = 5 * time.Millisecond
	}
	opts.Name = "test consumer"
	c, err := StartConsumer(t.Context(), st, Position{}, publishTo(h, fail), opts)
	storetest.Must(t, err)
	t.Cleanup(c.Close)
	return c, h
}

// openLog returns a store with one project, p, to record events of.
func openLog(t *testing.T, d store.Dialect) *store.Store {
	t.Helper()
	st := storetest.Open(t, d)
	storetest.Must(t, st.DB(t.Context()).Exec("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p", "p", store.Now()).Error)
	return st
}

// recorderOf returns a recorder of st whose commits c is told of.
func recorderOf(st *store.Store, c *Consumer) *Recorder {
	rec := NewRecorder(st)
	rec.OnCommit(c.Committed)
	return rec
}

// record records an event of project p through rec.
func record(t *testing.T, rec *Recorder) Event {
	t.Helper()
	ev := Event{Type: PinFailed, ProjectID: "p", KeyPath: "k"}
	storetest.Must(t, rec.Record(t.Context(), &ev))
	return ev
}

// insertRaw commits an event with no after-commit function: nobody is
// told of it.
func insertRaw(t *testing.T, st *store.Store) int64 {
	t.Helper()
	ev := Event{Type: PinFailed, ProjectID: "p", KeyPath: "k", OccurredAt: store.Now()}
	storetest.Must(t, st.DB(t.Context()).Create(&ev).Error)
	return ev.ID
}

// expect waits for the handler to be given the events ids, in order. On a
// PostgreSQL server other databases' transactions may hold the horizon
// back for a while.
func expect(t *testing.T, h handled, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		select {
		case ev := <-h.events:
			if ev.ID != id {
				t.Fatalf("handled event %d, want %d", ev.ID, id)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("event %d not handled in 20 s", id)
		}
	}
}

// TestConsumerHeldBackEventIsNotSkipped: an event committed after an
// older transaction began waits until that one ends, and is then handled
// before the events after it, with no other wake-up than the held-back
// retry.
func TestConsumerHeldBackEventIsNotSkipped(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		ctx := t.Context()
		st := openLog(t, d)
		c, h := startConsumer(t, st, ConsumerOptions{}, nil)
		rec := recorderOf(st, c)
		if !st.Shared() {
			// One writer commits at a time: nothing is ever held back.
			a, b := record(t, rec), record(t, rec)
			expect(t, h, a.ID, b.ID)
			return
		}
		// The older transaction records its event first but commits last.
		older, err := st.SQL().BeginTx(ctx, nil)
		storetest.Must(t, err)
		defer func() { _ = older.Rollback() }()
		var first int64
		storetest.Must(t, older.QueryRowContext(ctx, "INSERT INTO events (type, occurred_at, project_id, key_path) VALUES ($1, $2, 'p', 'k') RETURNING id",
			PinFailed, store.Now()).Scan(&first))
		second := record(t, rec) // wakes the consumer
		deadline := time.After(20 * time.Second)
		for held := false; !held; {
			select {
			case b := <-h.batches:
				if len(b.Events) > 0 {
					t.Fatalf("handled %+v while an older transaction was open", b.Events)
				}
				held = b.Held
			case <-deadline:
				t.Fatal("the consumer did not find the event held back in 20 s")
			}
		}
		// Its commit sends no wake-up: only the retry reads again.
		storetest.Must(t, older.Commit())
		expect(t, h, first, second.ID)
	})
}

// TestConsumerWakesOnCommit: with no poll, a commit of this instance is
// handled at once.
func TestConsumerWakesOnCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := openLog(t, d)
		c, h := startConsumer(t, st, ConsumerOptions{}, nil)
		rec := recorderOf(st, c)
		for range 3 {
			expect(t, h, record(t, rec).ID)
		}
	})
}

// TestConsumerWakesOnAnotherInstancesAnnouncement: a consumer that
// listens handles the commits of another instance, which announces them.
func TestConsumerWakesOnAnotherInstancesAnnouncement(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: announcements need PostgreSQL")
	}
	url, dir := storetest.NewDatabase(t, store.Postgres)
	open := func() *store.Store {
		st, err := store.Open(context.Background(), url, dir)
		storetest.Must(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	one, two := open(), open()
	storetest.Must(t, one.Migrate(t.Context()))
	storetest.Must(t, one.DB(t.Context()).Exec("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p", "p", store.Now()).Error)
	writer, _ := startConsumer(t, one, ConsumerOptions{Listen: true, Announce: true}, nil)
	_, heard := startConsumer(t, two, ConsumerOptions{Listen: true}, nil)
	rec := recorderOf(one, writer)
	for range 3 {
		expect(t, heard, record(t, rec).ID)
	}
}

// TestConsumerPolls: an event nobody was told of is handled at the next
// poll.
func TestConsumerPolls(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := openLog(t, d)
		_, h := startConsumer(t, st, ConsumerOptions{Poll: 20 * time.Millisecond}, nil)
		for range 2 {
			expect(t, h, insertRaw(t, st))
		}
	})
}

// TestConsumerReadsAgainAfterAFailure: a batch whose handler failed is
// read again at the next wake-up (here the poll): the position did not
// move past it.
func TestConsumerReadsAgainAfterAFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := openLog(t, d)
		id := insertRaw(t, st)
		var failed atomic.Bool
		_, h := startConsumer(t, st, ConsumerOptions{Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)},
			func(b Batch) bool { return len(b.Events) > 0 && !failed.Swap(true) })
		expect(t, h, id)
		if !failed.Load() {
			t.Fatal("the handler never failed")
		}
	})
}

// TestConsumerInlineHandlesInTheCommit: where one writer commits at a
// time, an Inline consumer has handled the event when Record returns (a
// loop elsewhere).
func TestConsumerInlineHandlesInTheCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := openLog(t, d)
		c, h := startConsumer(t, st, ConsumerOptions{Inline: true}, nil)
		rec := recorderOf(st, c)
		for range 3 {
			ev := record(t, rec)
			if st.Shared() {
				expect(t, h, ev.ID)
				continue
			}
			select {
			case got := <-h.events:
				if got.ID != ev.ID {
					t.Fatalf("handled event %d, want %d", got.ID, ev.ID)
				}
			default:
				t.Fatalf("event %d not handled when Record returned", ev.ID)
			}
		}
		// An event nobody was told of is read from the log, in order,
		// with the next one.
		missed := insertRaw(t, st)
		expect(t, h, missed, record(t, rec).ID)
	})
}

// TestConsumerIdleSkipsWhatHoldMovesPast: an Idle consumer reads nothing;
// Hold moves its position on, and the reads then start from there.
func TestConsumerIdleSkipsWhatHoldMovesPast(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := openLog(t, d)
		var active atomic.Bool
		c, h := startConsumer(t, st, ConsumerOptions{Idle: func() bool { return !active.Load() }}, nil)
		rec := recorderOf(st, c)
		skipped := record(t, rec)
		c.Hold(func(pos Position) Position {
			if !pos.Before(skipped.Position()) {
				t.Errorf("idle consumer at %+v, past %+v", pos, skipped.Position())
			}
			active.Store(true)
			c.Wake()
			return skipped.Position()
		})
		expect(t, h, record(t, rec).ID)
	})
}
