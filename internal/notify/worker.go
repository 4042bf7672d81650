package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"github.com/ottr/backend/internal/config"
	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/ratelimit"
	"github.com/ottr/backend/internal/slack"
	"github.com/ottr/backend/internal/store"
)

// MaxAttempts is how many failed attempts a delivery gets. With the
// threefold backoff from a 9 s base, the waits are 9 s, 27 s, 81 s, 4 min,
// 12 min, 36 min, 1.8 h, 5.5 h and 16.4 h: quick retries ride out a blip,
// and the last attempt comes about 24.6 h after the first, so a Slack
// outage of up to a day loses nothing. Answers 429 do not count.
const MaxAttempts = 10

// worker makes one delivery per job.
type worker struct {
	river.WorkerDefaults[deliverArgs]

	d        *Dispatcher
	client   *slack.Client
	limiter  *ratelimit.Limiter // per channel id
	settings config.Delivery

	// retryAt holds, per job id, the time Work announced as the delivery's
	// next attempt, for NextRetry to schedule exactly that.
	retryAt sync.Map
}

func newWorker(d *Dispatcher, client *slack.Client, s config.Delivery) *worker {
	return &worker{d: d, client: client, limiter: ratelimit.New(s.ChannelInterval, s.ChannelBurst), settings: s}
}

// Work delivers one event to one channel. Slack's answer decides the job's
// fate: done, snoozed (429, or the channel's own rate), retried with
// backoff, or cancelled for good.
func (w *worker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	del, ch, err := w.load(ctx, job.Args.DeliveryID)
	if err != nil || del == nil || del.final() || (del.JobID != nil && *del.JobID != job.ID) {
		// No delivery: its channel was removed, and its log with it. A
		// final one was settled by an earlier run of this job; another
		// job owns one that was redelivered.
		return err
	}
	if !ch.Enabled {
		return w.skip(ctx, del)
	}
	// Keep to Slack's one message a second per channel. The job gives up
	// its worker slot while it waits.
	if ok, wait := w.limiter.Allow(ch.ID); !ok {
		return river.JobSnooze(wait)
	}
	r := w.post(ctx, del, ch)
	return w.settle(ctx, job, del, ch, r)
}

// NextRetry schedules a failed delivery's next attempt at the time Work
// recorded, or, for a job rescued after a crash, after the backoff.
func (w *worker) NextRetry(job *river.Job[deliverArgs]) time.Time {
	// River refuses a time already past (a wait shorter than the time it
	// took to get here, as tests use) and falls back to its own schedule.
	soonest := time.Now().Add(time.Millisecond)
	at := soonest.Add(backoff(w.settings.RetryBase, job.Attempt))
	if recorded, ok := w.retryAt.LoadAndDelete(job.ID); ok {
		at = recorded.(time.Time)
	}
	if at.Before(soonest) {
		return soonest
	}
	return at
}

// backoff is the wait after the n-th failed attempt: base·3^(n−1), give or
// take 10 % so that retries after an outage spread out.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n; i++ {
		d *= 3
	}
	return jitter(d)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// load returns the delivery and its channel, or nil for a delivery that no
// longer exists.
func (w *worker) load(ctx context.Context, id string) (*Delivery, *slack.Channel, error) {
	var del Delivery
	if err := w.d.store.DB(ctx).Where("id = ?", id).Take(&del).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	ch, err := slack.LoadChannel(ctx, w.d.store, del.ChannelID)
	if store.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &del, ch, nil
}

// skip settles a delivery whose channel was disabled after the event.
func (w *worker) skip(ctx context.Context, del *Delivery) error {
	err := w.d.store.DB(ctx).Model(&Delivery{}).Where("id = ?", del.ID).
		Updates(map[string]any{"status": slack.StatusSkipped, "next_attempt_at": nil}).Error
	if err != nil {
		return fmt.Errorf("skip delivery %s: %w", del.ID, err)
	}
	w.d.logger.InfoContext(ctx, "slack delivery skipped: channel disabled", "delivery", del.ID, "channel", del.ChannelID)
	return nil
}

// post renders the event's message and sends it. Failures to get that far
// come back as a Result with Err, to be recorded and retried like a
// transport error.
func (w *worker) post(ctx context.Context, del *Delivery, ch *slack.Channel) slack.Result {
	body, err := w.render(ctx, del.EventID)
	if err != nil {
		return slack.Result{Err: err}
	}
	url, err := w.d.channels.WebhookURL(ch)
	if err != nil {
		return slack.Result{Err: err}
	}
	return w.client.Post(ctx, url, body)
}

// render builds the message of an event in the words of the product page.
func (w *worker) render(ctx context.Context, eventID int64) ([]byte, error) {
	db := w.d.store.DB(ctx)
	var ev event.Event
	if err := db.Where("id = ?", eventID).Take(&ev).Error; err != nil {
		return nil, fmt.Errorf("load event %d: %w", eventID, err)
	}
	var p project.Project
	if err := db.Where("id = ?", ev.ProjectID).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("load project %s: %w", ev.ProjectID, err)
	}
	details := slack.Details{ProjectName: p.Name}
	if ev.ApprovalID != nil {
		var a struct {
			Info      *string
			ExpiresAt time.Time
		}
		err := db.Table("approvals").Select("info", "expires_at").Where("id = ?", *ev.ApprovalID).Take(&a).Error
		if err != nil && !store.IsNotFound(err) {
			return nil, fmt.Errorf("load approval %s: %w", *ev.ApprovalID, err)
		}
		if a.Info != nil {
			details.Info = *a.Info
		}
		details.ExpiresAt = a.ExpiresAt
	}
	msg, err := slack.Message(ev, details)
	if err != nil {
		return nil, err
	}
	return msg.JSON()
}

// settle records the attempt and its consequences on the delivery and the
// channel, and tells River what to do with the job.
func (w *worker) settle(ctx context.Context, job *river.Job[deliverArgs], del *Delivery, ch *slack.Channel, r slack.Result) error {
	outcome := slack.Classify(r)
	now := store.Now()
	lastError := errorText(r, outcome)
	set := map[string]any{
		"attempts":         gorm.Expr("attempts + 1"),
		"last_status_code": positive(r.StatusCode),
		"last_error":       nullable(lastError),
		"next_attempt_at":  nil,
	}
	var (
		result  error
		disable string
	)
	switch outcome.Kind {
	case slack.Delivered:
		set["status"], set["delivered_at"] = slack.StatusDelivered, now
	case slack.RateLimited:
		wait := r.RetryAfter
		if wait <= 0 {
			wait = jitter(w.settings.RateLimitWait)
		}
		set["status"], set["next_attempt_at"] = slack.StatusRetrying, now.Add(wait)
		result = river.JobSnooze(wait)
	case slack.Retryable:
		set["status"] = slack.StatusFailed
		if job.Attempt < job.MaxAttempts {
			at := now.Add(backoff(w.settings.RetryBase, job.Attempt))
			w.retryAt.Store(job.ID, at)
			set["status"], set["next_attempt_at"] = slack.StatusRetrying, at
		}
		result = errors.New(outcome.Reason)
	case slack.DeadWebhook:
		set["status"], disable = slack.StatusFailed, outcome.Reason
		result = river.JobCancel(fmt.Errorf("dead webhook: %s", outcome.Reason))
	default: // BadPayload
		set["status"] = slack.StatusFailed
		result = river.JobCancel(fmt.Errorf("message refused: %s", outcome.Reason))
	}

	attempt := Attempt{
		DeliveryID:  del.ID,
		AttemptedAt: now,
		StatusCode:  positive(r.StatusCode),
		Body:        nullable(r.Body),
		DurationMs:  int(r.Latency.Milliseconds()),
		Outcome:     outcome.Kind.String(),
	}
	if r.Err != nil {
		attempt.Error = nullable(r.Err.Error())
	}
	// Record even when the job's context ended (timeout, shutdown): the
	// request was made.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := w.d.store.WithTx(rctx, func(ctx context.Context) error {
		db := w.d.store.DB(ctx)
		if err := db.Create(&attempt).Error; err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if err := db.Model(&Delivery{}).Where("id = ?", del.ID).Updates(set).Error; err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		return slack.RecordOutcome(ctx, w.d.store, ch.ID, set["status"].(string), lastError, disable)
	})
	if err != nil {
		w.retryAt.Delete(job.ID)
		return fmt.Errorf("settle delivery %s: %w", del.ID, err)
	}

	level := slog.LevelInfo
	if outcome.Kind != slack.Delivered {
		level = slog.LevelWarn
	}
	w.d.logger.Log(ctx, level, "slack delivery attempt", "delivery", del.ID, "channel", ch.ID,
		"outcome", outcome.Kind.String(), "status", set["status"], "http_status", r.StatusCode,
		"reason", outcome.Reason, "attempt", job.Attempt, "took", r.Latency)
	if disable != "" {
		w.d.logger.WarnContext(ctx, "slack channel disabled by its webhook's answer", "channel", ch.ID, "reason", disable)
	}
	return result
}

// errorText is what a delivery shows as its last error: the transport
// error, or Slack's answer when it was not a success.
func errorText(r slack.Result, outcome slack.Outcome) string {
	switch {
	case outcome.Kind == slack.Delivered:
		return ""
	case r.StatusCode == 0 && r.Err != nil:
		return r.Err.Error()
	case strings.TrimSpace(r.Body) != "":
		return r.Body
	}
	return outcome.Reason
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func positive(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}
