package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/event"
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

// Page is one page of a channel's deliveries, newest first.
type Page struct {
	Deliveries []Delivery
	HasNext    bool
}

// MaxPage is the largest page of deliveries.
const MaxPage = 100

// Deliveries lists a channel's deliveries, newest first, after the
// delivery whose id is the cursor after.
func (d *Dispatcher) Deliveries(ctx context.Context, channelID string, first int, after string) (*Page, error) {
	if first < 1 || first > MaxPage {
		return nil, apperr.Invalid("first", "first must be 1 to %d", MaxPage)
	}
	if _, err := d.channels.Get(ctx, channelID, project.Read); err != nil {
		return nil, err
	}
	q := d.store.DB(ctx).Where("channel_id = ?", channelID)
	if after != "" {
		q = q.Where("id < ?", after)
	}
	var rows []Delivery
	if err := q.Order("id DESC").Limit(first + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list deliveries of channel %s: %w", channelID, err)
	}
	page := &Page{Deliveries: rows, HasNext: len(rows) > first}
	if page.HasNext {
		page.Deliveries = rows[:first]
	}
	return page, nil
}

// Event returns the event a delivery carries, for a caller who may read
// its project.
func (d *Dispatcher) Event(ctx context.Context, id int64) (*event.Event, error) {
	var ev event.Event
	if err := d.store.DB(ctx).Where("id = ?", id).Take(&ev).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("event")
		}
		return nil, fmt.Errorf("load event %d: %w", id, err)
	}
	if _, err := d.authz.Authorize(ctx, ev.ProjectID, project.Read); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Redeliver queues a new attempt of a delivery, whatever its status: the
// delivery goes back to PENDING and is sent again. A delivery still waiting
// for a retry is sent now rather than twice; one being sent right now
// answers CONFLICT.
func (d *Dispatcher) Redeliver(ctx context.Context, id string) (*Delivery, error) {
	var del Delivery
	if err := d.store.DB(ctx).Where("id = ?", id).Take(&del).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("delivery")
		}
		return nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	if _, err := d.channels.Get(ctx, del.ChannelID, project.ManageSlack); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("delivery")
		}
		return nil, err
	}
	err := d.store.WithTx(ctx, func(ctx context.Context) error {
		res := d.store.DB(ctx).Model(&Delivery{}).Where("id = ?", id).
			Updates(map[string]any{"status": slack.StatusPending, "next_attempt_at": nil})
		if res.Error != nil {
			return fmt.Errorf("reset delivery %s: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.NotFound("delivery")
		}
		tx, err := store.SQLTx(ctx)
		if err != nil {
			return err
		}
		job, err := d.river.InsertTx(ctx, tx, deliverArgs{DeliveryID: id}, nil)
		if err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
		if !job.UniqueSkippedAsDuplicate {
			return nil
		}
		// Its job is still queued: run it now instead of adding another.
		if job.Job.State == rivertype.JobStateRunning {
			return apperr.Conflict("this delivery is being sent right now")
		}
		if _, err := d.river.JobRetryTx(ctx, tx, job.Job.ID); err != nil {
			return fmt.Errorf("retry delivery %s now: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.store.DB(ctx).Where("id = ?", id).Take(&del).Error; err != nil {
		return nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	return &del, nil
}

// deliverArgs is the job that makes one delivery.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (deliverArgs) Kind() string { return "slack_delivery" }

// InsertOpts keeps one live job per delivery, so a redelivery never sends
// a message twice.
func (deliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       queue,
		MaxAttempts: MaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}
