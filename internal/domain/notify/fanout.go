package notify

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/eventlog"
)

// The fan-out turns committed events into deliveries. A request's
// transaction writes only its own rows and the event; the fan-out then
// reads the final events after a durable cursor (delivery_cursor, a log
// position as in event.Since) and, in one transaction per batch, inserts
// each event's deliveries and River jobs and moves the cursor past them.
// So the request's transaction sends no NOTIFY (River's wake-up is one per
// batch, not one per event: a NOTIFY holds a lock of the whole PostgreSQL
// server until its transaction's commit is flushed), and reads no
// channels. Every event is fanned out once: batches of all instances take
// turns under fanoutLock, and an event committed but not yet fanned out
// when an instance stops is fanned out by the next batch of any instance.

const (
	// fanoutBatch is how many events one fan-out transaction reads.
	fanoutBatch = 500

	// fanoutSpacing is the least time from one batch's start to the
	// next one's. An event after a quiet spell is fanned out at once;
	// under load the events of the spacing share one transaction instead
	// of paying a transaction each (ottr-bench execute: BENCHMARKS.md).
	fanoutSpacing = 5 * time.Millisecond

	// cursorSaveEvery is how long the stored delivery cursor may stay
	// behind events that needed no delivery.
	cursorSaveEvery = time.Second

	// fanoutHeldRetry is how soon the fan-out reads again while committed
	// events wait behind an older open transaction, as the live feed does.
	fanoutHeldRetry = 5 * time.Millisecond

	// fanoutLock is the advisory lock under which one instance at a time
	// fans out a batch (taken by the store's event-log driver). An
	// advisory lock, unlike locking the cursor's row, gives a batch that
	// finds nothing to do no transaction ID and no commit to flush.
	fanoutLock = eventlog.FanoutLockKey
)

// Committed is the event.Recorder's after-commit function: it asks the
// fan-out to read the log again. It never blocks; one pending wake-up
// stands for any number.
func (d *Dispatcher) Committed(ev event.Event) { d.fanout.Committed(ev) }

// startFanout starts the fan-out: an event.Consumer that fans out batches
// whenever woken, every poll interval (events of an instance that stopped
// before fanning them out), and shortly again while committed events are
// held back, until Stop. It reads at once: events committed while no
// instance ran.
func (d *Dispatcher) startFanout(ctx context.Context, poll time.Duration) error {
	c, err := event.StartConsumer(ctx, d.store, event.Position{}, d.fanOut, event.ConsumerOptions{
		Name:      "fanning out Slack deliveries",
		Batch:     fanoutBatch,
		HeldRetry: fanoutHeldRetry,
		Poll:      poll,
		Spacing:   fanoutSpacing,
		Logger:    d.logger,
	})
	if err != nil {
		return fmt.Errorf("start the fan-out: %w", err)
	}
	d.fanout = c
	return nil
}

// cursorRow is the delivery cursor's one row.
type cursorRow struct {
	Xid     int64
	EventID int64
}

// fanOut is the fan-out's event.Consumer handler: it adds the
// deliveries of up to fanoutBatch final events after the cursor, or after
// this instance's own position when that is later.
//
// The cursor is written with the deliveries it passes; a batch that makes
// none (its projects have no channel for its events) moves only this
// instance's own position, and the stored cursor follows at most
// cursorSaveEvery later: such a batch then writes nothing and has no
// commit to flush. Starting from the stored cursor again (another
// instance, or this one after a restart) reads those events once more and
// adds nothing for them that is not due.
func (d *Dispatcher) fanOut(ctx context.Context, read event.ReadFunc) error {
	var saved bool
	err := d.store.WithTx(ctx, func(ctx context.Context) error {
		db := d.store.DB(ctx)
		if err := d.store.EventLog().FanoutLock(db); err != nil {
			return err
		}
		// Read after taking the lock: in READ COMMITTED this statement's
		// snapshot sees the cursor the previous batch committed.
		var cur cursorRow
		if err := db.Raw("SELECT xid, event_id FROM delivery_cursor WHERE id = 1").Scan(&cur).Error; err != nil {
			return fmt.Errorf("read the delivery cursor: %w", err)
		}
		stored := event.Position{Xid: cur.Xid, ID: cur.EventID}
		b, err := read(ctx, stored)
		if err != nil {
			return err
		}
		events := b.Events
		var made int
		if len(events) > 0 {
			if made, err = d.addDeliveries(ctx, events); err != nil {
				return err
			}
			webhooks, err := d.addWebhookDeliveries(ctx, events)
			if err != nil {
				return err
			}
			made += webhooks
			callbacks, err := d.addCallbackDeliveries(ctx, events)
			if err != nil {
				return err
			}
			made += callbacks
		}
		last := b.Last()
		if last == stored || (made == 0 && time.Since(d.cursorSaved) < cursorSaveEvery) {
			return nil
		}
		if err := db.Exec("UPDATE delivery_cursor SET xid = ?, event_id = ? WHERE id = 1", last.Xid, last.ID).Error; err != nil {
			return fmt.Errorf("move the delivery cursor to %d/%d: %w", last.Xid, last.ID, err)
		}
		saved = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("fan out events: %w", err)
	}
	if saved {
		d.cursorSaved = time.Now()
	}
	return nil
}

// addDeliveries inserts, in ctx's transaction, a delivery and its job for
// every enabled channel that selected an event's type and existed when
// the event occurred, and returns how many it made. The events of a
// project deleted since they were recorded need none.
func (d *Dispatcher) addDeliveries(ctx context.Context, events []event.Event) (int, error) {
	var projects []string
	for _, ev := range events {
		if !slices.Contains(projects, ev.ProjectID) {
			projects = append(projects, ev.ProjectID)
		}
	}
	// The lock order of internal/domain/project/lock.go: the projects' rows, then
	// their channels' (EnabledOf). A project or channel deleted meanwhile
	// is not returned, and none can be deleted under the deliveries
	// inserted here, which would fail on their foreign keys.
	projects, err := project.LockManyForWrite(ctx, d.store, projects)
	if err != nil || len(projects) == 0 {
		return 0, err
	}
	channels, err := slack.EnabledOf(ctx, d.store, projects)
	if err != nil || len(channels) == 0 {
		return 0, err
	}
	now := store.Now()
	var rows []Delivery
	for i := range events {
		ev := &events[i]
		for _, c := range channels[ev.ProjectID] {
			if !c.Selects(ev.Type) || c.CreatedAt.After(ev.OccurredAt) {
				continue
			}
			rows = append(rows, Delivery{ID: store.NewID(), ChannelID: c.ID, EventID: ev.ID, Status: slack.StatusPending, CreatedAt: now,
				OrderedBy: orderedBy(c.Ordering, ev)})
		}
	}
	return d.enqueue(ctx, kindSlack, rows)
}

// withoutExisting drops the deliveries of events that have deliveries
// already: those recorded by an instance of the previous version, which
// enqueued them in the event's transaction, and rows written by other
// means (ottr-bench's baselines).
func withoutExisting(ctx context.Context, st *store.Store, table string, rows []Delivery) ([]Delivery, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		if !slices.Contains(ids, r.EventID) {
			ids = append(ids, r.EventID)
		}
	}
	var existing []int64
	if err := st.DB(ctx).Table(table).Distinct("event_id").Where("event_id IN ?", ids).Pluck("event_id", &existing).Error; err != nil {
		return nil, fmt.Errorf("find the events of %d deliveries that have some: %w", len(rows), err)
	}
	if len(existing) == 0 {
		return rows, nil
	}
	return slices.DeleteFunc(rows, func(r Delivery) bool { return slices.Contains(existing, r.EventID) }), nil
}
