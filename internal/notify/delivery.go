package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/page"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/slack"
	"github.com/ottr/backend/internal/store"
)

// Delivery is one event's delivery to one channel: a row of deliveries.
type Delivery struct {
	ID             string
	ChannelID      string
	EventID        int64
	Status         string
	Attempts       int
	LastStatusCode *int
	LastError      *string
	NextAttemptAt  *time.Time
	DeliveredAt    *time.Time
	CreatedAt      time.Time
	// JobID is the River job that currently makes the delivery; a
	// redelivery replaces it, and an older job that still runs stands down.
	JobID *int64
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

// Deliveries lists a channel's deliveries, newest first.
func (d *Dispatcher) Deliveries(ctx context.Context, channelID string, args page.Args) (page.Page[Delivery], error) {
	size, err := args.Size(20)
	if err != nil {
		return page.Page[Delivery]{}, err
	}
	after, ok, err := args.Cursor(1)
	if err != nil {
		return page.Page[Delivery]{}, err
	}
	if _, err := d.channels.Get(ctx, channelID, project.Read); err != nil {
		return page.Page[Delivery]{}, err
	}
	q := d.store.DB(ctx).Where("channel_id = ?", channelID)
	if ok {
		q = q.Where("id < ?", after[0]) // ids are UUIDv7: time-ordered text
	}
	var rows []Delivery
	if err := q.Order("id DESC").Limit(size + 1).Find(&rows).Error; err != nil {
		return page.Page[Delivery]{}, fmt.Errorf("list deliveries of channel %s: %w", channelID, err)
	}
	return page.Cut(rows, size, func(d Delivery) string { return page.Encode(d.ID) }, func(d Delivery) Delivery { return d }), nil
}

// Redeliver queues a new attempt of a delivery, whatever its status: the
// delivery goes back to PENDING and a new job sends it now, in place of
// one still waiting for a retry. A job that is running is first given the time of one request to finish,
// so that the message is not sent twice at once; past that, Redeliver
// answers CONFLICT.
func (d *Dispatcher) Redeliver(ctx context.Context, id string) (*Delivery, error) {
	del, err := d.loadDelivery(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := d.channels.Get(ctx, del.ChannelID, project.ManageSlack); err != nil {
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
		if del, err = d.loadDelivery(ctx, id); err != nil {
			return err
		}
		if del.JobID != nil {
			// Hold the job's row until this transaction ends: River fetches
			// with FOR UPDATE SKIP LOCKED, so the job cannot start between
			// the check below and its cancellation (SQLite's write lock,
			// taken at BEGIN, already keeps River's fetch out).
			if d.store.Dialect() == store.Postgres {
				if _, err := tx.ExecContext(ctx, "SELECT 1 FROM river_job WHERE id = $1 FOR UPDATE", *del.JobID); err != nil {
					return fmt.Errorf("lock job of delivery %s: %w", id, err)
				}
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
		job, err := d.river.InsertTx(ctx, tx, deliverArgs{DeliveryID: id}, nil)
		if err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
		err = d.store.DB(ctx).Model(&Delivery{}).Where("id = ?", id).
			Updates(map[string]any{"status": slack.StatusPending, "next_attempt_at": nil, "job_id": job.Job.ID}).Error
		if err != nil {
			return fmt.Errorf("reset delivery %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.loadDelivery(ctx, id)
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
	var del Delivery
	if err := d.store.DB(ctx).Where("id = ?", id).Take(&del).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("delivery")
		}
		return nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	return &del, nil
}

// deliverArgs is the job that makes one delivery.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (deliverArgs) Kind() string { return "slack_delivery" }

func (deliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue, MaxAttempts: MaxAttempts}
}
