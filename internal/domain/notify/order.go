package notify

import (
	"context"
	"fmt"
	"slices"

	"github.com/riverqueue/river"
	"gorm.io/gorm/clause"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
)

// Order per channel. On a channel whose ordering is PER_APPROVAL, the
// deliveries of one approval's events go one at a time, in event order:
// a delivery gets its River job only when no earlier delivery of the same
// (channel, approval) is still to be settled (PENDING or RETRYING).
//
//   - The fan-out adds a delivery that has such an earlier one without a
//     job: it is held. Nothing polls for it.
//   - The settling of a delivery (DELIVERED, FAILED or SKIPPED), in its
//     own transaction, gives the next held delivery of its (channel,
//     approval) its job. A delivery given up on lets the next one go: one
//     message that cannot be sent does not silence the approval.
//   - A retried or rate-limited (snoozed) delivery stays unsettled, so the
//     later ones keep waiting for it.
//
// The two meet on the earlier delivery's row: the fan-out locks the
// unsettled deliveries it holds new ones behind (FOR UPDATE, in event
// order), and the settling updates that row first. Either the settling
// commits first, and the fan-out no longer finds the row unsettled, or it
// waits for the fan-out's commit, and then finds the held delivery.
// Deliveries about different approvals never wait for each other, and
// neither do those of a channel whose ordering is NONE.

// orderedBy is the approval whose order a delivery of ev to a channel
// with ordering o keeps, or nil.
func orderedBy(o slack.Ordering, ev *event.Event) *string {
	if o == slack.OrderNone || ev.ApprovalID == nil {
		return nil
	}
	return ev.ApprovalID
}

// orderKey is a (channel, approval) whose deliveries go one at a time.
type orderKey struct{ channel, approval string }

// enqueue adds, in ctx's transaction, the deliveries rows of the kind
// named kind (in event order) that their events do not have yet, with a
// job each unless an earlier delivery of their (channel, approval) is
// still to be settled, and returns how many it added.
func (d *Dispatcher) enqueue(ctx context.Context, kind string, rows []Delivery) (int, error) {
	tb := tablesOf(kind)
	rows, err := withoutExisting(ctx, d.store, tb.deliveries, rows)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	busy, err := d.unsettled(ctx, tb.deliveries, rows)
	if err != nil {
		return 0, err
	}
	var jobs []river.InsertManyParams
	var owners []int // rows[owners[i]] gets jobs[i]
	for i, r := range rows {
		if r.OrderedBy != nil {
			k := orderKey{r.ChannelID, *r.OrderedBy}
			if busy[k] {
				continue // held: the settling of the one before gives it its job
			}
			busy[k] = true
		}
		args := deliverArgs{DeliveryID: r.ID}
		if kind != kindSlack {
			args.Channel = kind
		}
		jobs = append(jobs, river.InsertManyParams{Args: args})
		owners = append(owners, i)
	}
	if len(jobs) > 0 {
		tx, err := store.SQLTx(ctx)
		if err != nil {
			return 0, fmt.Errorf("enqueue %d %s deliveries: %w", len(jobs), kind, err)
		}
		inserted, err := d.river.InsertManyTx(ctx, tx, jobs)
		if err != nil {
			return 0, fmt.Errorf("enqueue %d %s deliveries: %w", len(jobs), kind, err)
		}
		for i, res := range inserted {
			rows[owners[i]].JobID = &res.Job.ID
		}
	}
	// A delivery added meanwhile by an instance of the previous version
	// keeps its job; the new one stands down when it finds the delivery
	// owned by another.
	err = d.store.DB(ctx).Table(tb.deliveries).
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "event_id"}, {Name: "channel_id"}}, DoNothing: true}).
		CreateInBatches(&rows, 1000).Error
	if err != nil {
		return 0, fmt.Errorf("add %d %s deliveries: %w", len(rows), kind, err)
	}
	return len(rows), nil
}

// unsettled returns the (channel, approval) pairs of rows that have a
// delivery in table still to be settled. On PostgreSQL it locks those
// deliveries until ctx's transaction ends, in event order, the order in
// which a settling locks a delivery and then the next one (wakeNext).
func (d *Dispatcher) unsettled(ctx context.Context, table string, rows []Delivery) (map[orderKey]bool, error) {
	var channels, approvals []string
	for _, r := range rows {
		if r.OrderedBy == nil {
			continue
		}
		if !slices.Contains(channels, r.ChannelID) {
			channels = append(channels, r.ChannelID)
		}
		if !slices.Contains(approvals, *r.OrderedBy) {
			approvals = append(approvals, *r.OrderedBy)
		}
	}
	busy := map[orderKey]bool{}
	if len(approvals) == 0 {
		return busy, nil
	}
	q := "SELECT channel_id, ordered_by FROM " + table + " WHERE channel_id IN ? AND ordered_by IN ? AND " + unsettledSQL +
		" ORDER BY channel_id, ordered_by, event_id"
	q += d.store.RowLockSQL(store.LockUpdate)
	var found []struct{ ChannelID, OrderedBy string }
	if err := d.store.DB(ctx).Raw(q, channels, approvals).Scan(&found).Error; err != nil {
		return nil, fmt.Errorf("find the unsettled deliveries of %d approvals: %w", len(approvals), err)
	}
	for _, f := range found {
		busy[orderKey{f.ChannelID, f.OrderedBy}] = true
	}
	return busy, nil
}

// unsettledSQL matches the deliveries that keep an approval's order and
// are still to be settled: the predicate of the partial indexes
// deliveries_unsettled_order and webhook_deliveries_unsettled_order.
const unsettledSQL = "ordered_by IS NOT NULL AND status IN ('PENDING', 'RETRYING')"

// heldNext is a query of one boolean, true when the first delivery still
// to be settled of del's (channel, approval), other than del, waits for
// its job: the case in which del's settling must call wakeNext. Run after
// del's settling in the same transaction, it sees a delivery that a
// fan-out holding del's row added meanwhile, as wakeNext does.
func heldNext(table string, del *Delivery) store.Stmt {
	return store.Stmt{SQL: "SELECT job_id IS NULL FROM " + table + " WHERE channel_id = ? AND ordered_by = ? AND id <> ? AND " + unsettledSQL +
		" ORDER BY event_id LIMIT 1", Args: []any{del.ChannelID, *del.OrderedBy, del.ID}}
}

// wakeNext gives the next held delivery of del's (channel, approval) its
// job, in ctx's transaction, once del is settled in it. The next
// unsettled delivery may have a job already (a redelivery gave it one):
// then it goes on with that.
func (d *Dispatcher) wakeNext(ctx context.Context, kind string, del *Delivery) error {
	if del.OrderedBy == nil {
		return nil
	}
	tb := tablesOf(kind)
	var next []Delivery
	err := d.store.DB(ctx).Table(tb.deliveries).
		Where("channel_id = ? AND ordered_by = ? AND "+unsettledSQL, del.ChannelID, *del.OrderedBy).
		Order("event_id").Limit(1).Find(&next).Error
	if err != nil {
		return fmt.Errorf("find the delivery after %s: %w", del.ID, err)
	}
	if len(next) == 0 || next[0].JobID != nil {
		return nil
	}
	tx, err := store.SQLTx(ctx)
	if err != nil {
		return fmt.Errorf("enqueue delivery %s: %w", next[0].ID, err)
	}
	args := deliverArgs{DeliveryID: next[0].ID}
	if kind != kindSlack {
		args.Channel = kind
	}
	job, err := d.river.InsertTx(ctx, tx, args, nil)
	if err != nil {
		return fmt.Errorf("enqueue delivery %s: %w", next[0].ID, err)
	}
	if err := d.store.DB(ctx).Table(tb.deliveries).Where("id = ?", next[0].ID).Update("job_id", job.Job.ID).Error; err != nil {
		return fmt.Errorf("give delivery %s its job: %w", next[0].ID, err)
	}
	return nil
}
