package event

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/platform/store"
)

// Recorder is the one place where events are written. Every state change
// records its event through Record, inside the change's transaction, so the
// event's live publication and its Slack deliveries, both started after
// commit from the log, follow from one call. A change written with its
// event in one statement (an approval's execution on PostgreSQL) writes
// the row Record would and hands the committed event to Committed.
//
// Recording takes no lock: transactions of any project commit side by
// side. The database stamps each event with its transaction's ID, and
// readers order the log by it (see log.go), so the log stays an exact
// cursor. The price is that an event is handed out only once every
// transaction that started before it has ended: keep transactions short,
// and never hold one open across a network call.
type Recorder struct {
	store    *store.Store
	onCommit []func(Event)
}

// NewRecorder returns a recorder with no after-commit functions.
func NewRecorder(s *store.Store) *Recorder { return &Recorder{store: s} }

// OnCommit adds a function called with each event once its transaction has
// committed (the live feed, the delivery fan-out). It must not block. Set
// them up before serving; they are not safe to add concurrently with
// Record.
func (r *Recorder) OnCommit(f func(Event)) { r.onCommit = append(r.onCommit, f) }

// Record writes ev (filling in its ID) and calls the after-commit
// functions once its transaction commits. Called outside a transaction it
// opens one.
func (r *Recorder) Record(ctx context.Context, ev *Event) error {
	if !ev.Type.Valid() {
		return fmt.Errorf("record event: unknown type %q", ev.Type)
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = store.Now()
	}
	return r.store.WithTx(ctx, func(ctx context.Context) error {
		if err := r.store.DB(ctx).Create(ev).Error; err != nil {
			return fmt.Errorf("record %s event: %w", ev.Type, err)
		}
		committed := *ev
		store.AfterCommit(ctx, func() { r.Committed(committed) })
		return nil
	})
}

// Committed calls the after-commit functions with ev, an event that a
// caller's own statement wrote and committed (its ID and Xid filled in from
// the row), as Record does once its transaction commits. Call it only
// after the commit, and once per event.
func (r *Recorder) Committed(ev Event) {
	for _, f := range r.onCommit {
		f(ev)
	}
}
