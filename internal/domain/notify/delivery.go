package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"gorm.io/gorm"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/store"
)

// Delivery is one event's delivery to one channel: a row of deliveries.
type Delivery struct {
	ID        string
	ChannelID string
	EventID   int64
	Status    string
	Attempts  int
	// UnknownAttempts counts the attempts whose request was in flight when
	// their server died.
	UnknownAttempts int
	LastStatusCode  *int
	LastError       *string
	NextAttemptAt   *time.Time
	DeliveredAt     *time.Time
	CreatedAt       time.Time
	// JobID is the River job that currently makes the delivery; a
	// redelivery replaces it, and an older job that still runs stands down.
	// Nil while the delivery waits for an earlier one (OrderedBy).
	JobID *int64
	// OrderedBy is the approval whose order the delivery keeps on its
	// channel (order.go); nil when it keeps none.
	OrderedBy *string
}

// TableName pins the table name.
func (Delivery) TableName() string { return "deliveries" }

// final reports whether the delivery needs no more attempts.
func (d *Delivery) final() bool {
	return d.Status == slack.StatusDelivered || d.Status == slack.StatusFailed || d.Status == slack.StatusSkipped
}

// Attempt is one request made for a delivery: a row of delivery_attempts.
type Attempt struct {
	ID          int64 `gorm:"primaryKey;autoIncrement"`
	DeliveryID  string
	AttemptedAt time.Time
	StatusCode  *int
	Body        *string
	DurationMs  int
	Error       *string
	Outcome     string
}

// TableName pins the table name.
func (Attempt) TableName() string { return "delivery_attempts" }

// DeliveryFilter narrows a list of deliveries; every field set must match.
type DeliveryFilter struct {
	Status    *string
	ChannelID *string
}

// DefaultDeliveriesPageSize is the size of a page of deliveries when none
// is asked for.
const DefaultDeliveriesPageSize = 20

// Deliveries lists a channel's deliveries, newest first, optionally of one
// status only.
func (d *Dispatcher) Deliveries(ctx context.Context, channelID string, status *string, args page.Args) (page.Page[Delivery], error) {
	if err := apperr.CheckTexts("channelId", channelID); err != nil {
		return page.Page[Delivery]{}, err
	}
	if _, err := d.channels.Get(ctx, channelID, project.ReadSettings); err != nil {
		return page.Page[Delivery]{}, err
	}
	return d.listDeliveries(ctx, d.store.DB(ctx).Where("channel_id = ?", channelID), status, args)
}

// ProjectDeliveries lists the deliveries to all of a project's channels,
// newest first, filtered by f. A channel of another project matches
// nothing.
func (d *Dispatcher) ProjectDeliveries(ctx context.Context, projectID string, f DeliveryFilter, args page.Args) (page.Page[Delivery], error) {
	if _, err := d.authz.Authorize(ctx, projectID, project.ReadSettings); err != nil {
		return page.Page[Delivery]{}, err
	}
	channels := d.store.DB(ctx).Table("slack_channels").Select("id").Where("project_id = ?", projectID)
	db := d.store.DB(ctx).Where("channel_id IN (?)", channels)
	if f.ChannelID != nil {
		if err := apperr.CheckText("channelId", *f.ChannelID); err != nil {
			return page.Page[Delivery]{}, err
		}
		if len(*f.ChannelID) > 100 {
			return page.Page[Delivery]{}, apperr.Invalid("channelId", "channelId is not the id of a channel")
		}
		db = db.Where("channel_id = ?", *f.ChannelID)
	}
	return d.listDeliveries(ctx, db, f.Status, args)
}

func (d *Dispatcher) listDeliveries(ctx context.Context, db *gorm.DB, status *string, args page.Args) (page.Page[Delivery], error) {
	var none page.Page[Delivery]
	w, err := args.Window(DefaultDeliveriesPageSize, 1)
	if err != nil {
		return none, err
	}
	if status != nil {
		switch *status {
		case slack.StatusPending, slack.StatusDelivered, slack.StatusRetrying, slack.StatusFailed, slack.StatusSkipped:
		default:
			return none, apperr.Invalid("status", "unknown delivery status %q", *status)
		}
		db = db.Where("status = ?", *status)
	}
	var total *int
	if w.Total {
		n, err := page.Count(db, &Delivery{})
		if err != nil {
			return none, fmt.Errorf("count deliveries: %w", err)
		}
		total = &n
	}
	// ids are UUIDv7: time-ordered text.
	var rows []Delivery
	if err := page.Fetch(db, w, page.Order{{Name: "id", Desc: true}}, textCursor(w.After), textCursor(w.Before)).Find(&rows).Error; err != nil {
		return none, fmt.Errorf("list deliveries: %w", err)
	}
	p := page.Cut(rows, w, func(d Delivery) string { return page.Encode(d.ID) }, func(d Delivery) Delivery { return d })
	p.TotalCount = total
	return p, nil
}

func textCursor(parts []string) []any {
	if parts == nil {
		return nil
	}
	return []any{parts[0]}
}

// Redeliver queues a new attempt of a delivery, whatever its status: the
// delivery goes back to PENDING and a new job sends it now, in place of
// one still waiting for a retry. A job that is running is first given the time of one request to finish,
// so that the message is not sent twice at once; past that, Redeliver
// answers CONFLICT.
func (d *Dispatcher) Redeliver(ctx context.Context, id string) (*Delivery, error) {
	return d.redeliver(ctx, kindSlack, id, func(ctx context.Context, channelID string) error {
		_, err := d.channels.Get(ctx, channelID, project.ManageSlack)
		return err
	})
}

// redeliver is Redeliver for the deliveries of the kind named kind, whose
// channel authorize checks the caller may manage.
func (d *Dispatcher) redeliver(ctx context.Context, kind, id string, authorize func(ctx context.Context, channelID string) error) (*Delivery, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	tb := tablesOf(kind)
	del, err := d.loadDeliveryIn(ctx, tb, id)
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, del.ChannelID); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("delivery")
		}
		return nil, err
	}
	if del.JobID != nil {
		if err := d.waitWhileRunning(ctx, *del.JobID); err != nil {
			return nil, err
		}
	}
	err = d.store.WithTx(ctx, func(ctx context.Context) error {
		tx, err := store.SQLTx(ctx)
		if err != nil {
			return err
		}
		if del, err = d.loadDeliveryIn(ctx, tb, id); err != nil {
			return err
		}
		if del.JobID != nil {
			// Hold the job's row until this transaction ends: River fetches
			// with FOR UPDATE SKIP LOCKED, so the job cannot start between
			// the check below and its cancellation (SQLite's write lock,
			// taken at BEGIN, already keeps River's fetch out).
			if err := d.store.LockRowsTx(ctx, tx, "river_job", *del.JobID); err != nil {
				return fmt.Errorf("lock job of delivery %s: %w", id, err)
			}
			running, err := d.running(ctx, tx, *del.JobID)
			if err != nil {
				return err
			}
			if running {
				return apperr.Conflict("this delivery is being sent right now; try again shortly")
			}
			// A job waiting for its retry would stand down anyway.
			if _, err := d.river.JobCancelTx(ctx, tx, *del.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
				return fmt.Errorf("cancel job of delivery %s: %w", id, err)
			}
		}
		args := deliverArgs{DeliveryID: id}
		if kind != kindSlack {
			args.Channel = kind
		}
		job, err := d.river.InsertTx(ctx, tx, args, nil)
		if err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
		err = d.store.DB(ctx).Table(tb.deliveries).Where("id = ?", id).
			Updates(map[string]any{"status": slack.StatusPending, "next_attempt_at": nil, "job_id": job.Job.ID}).Error
		if err != nil {
			return fmt.Errorf("reset delivery %s: %w", id, err)
		}
		// The answer is the delivery as this redelivery left it: read
		// after the commit, the new job may already have sent it.
		del, err = d.loadDeliveryIn(ctx, tb, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return del, nil
}

// waitWhileRunning waits, up to the length of one request and some, for
// a running job to end. River records a job's end shortly after its
// worker returns, so this is also how long a settled job takes to show.
func (d *Dispatcher) waitWhileRunning(ctx context.Context, jobID int64) error {
	deadline := time.Now().Add(d.requestTimeout + 2*time.Second)
	for {
		running, err := d.running(ctx, nil, jobID)
		if err != nil || !running || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// running reports whether a job is being worked, reading in tx if given.
func (d *Dispatcher) running(ctx context.Context, tx *sql.Tx, jobID int64) (bool, error) {
	var (
		job *rivertype.JobRow
		err error
	)
	if tx != nil {
		job, err = d.river.JobGetTx(ctx, tx, jobID)
	} else {
		job, err = d.river.JobGet(ctx, jobID)
	}
	if errors.Is(err, river.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load job %d: %w", jobID, err)
	}
	return job.State == rivertype.JobStateRunning, nil
}

func (d *Dispatcher) loadDelivery(ctx context.Context, id string) (*Delivery, error) {
	return d.loadDeliveryIn(ctx, tablesOf(kindSlack), id)
}

func (d *Dispatcher) loadDeliveryIn(ctx context.Context, tb kindTables, id string) (*Delivery, error) {
	var del Delivery
	if err := d.store.DB(ctx).Table(tb.deliveries).Where("id = ?", id).Take(&del).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("delivery")
		}
		return nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	return &del, nil
}

// Delivery returns one delivery to a channel of a project the caller can
// read; another tenant's answers NOT_FOUND like a missing one.
func (d *Dispatcher) Delivery(ctx context.Context, id string) (*Delivery, error) {
	del, err := d.loadDelivery(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := d.channels.Get(ctx, del.ChannelID, project.ReadSettings); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("delivery")
		}
		return nil, err
	}
	return del, nil
}

// deliverArgs is the job that makes one delivery.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
	// Channel is the Kind's name; empty for Slack, as jobs made before
	// there were other kinds are.
	Channel string `json:"channel,omitempty"`
}

// kindName is the name of the Kind the job delivers with.
func (a deliverArgs) kindName() string {
	if a.Channel == "" {
		return kindSlack
	}
	return a.Channel
}

func (deliverArgs) Kind() string { return "slack_delivery" }

func (deliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue, MaxAttempts: MaxAttempts}
}
