package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
)

// MaxAttempts is how many failed attempts a delivery gets. With the
// threefold backoff from a 9 s base, the waits are 9 s, 27 s, 81 s, 4 min,
// 12 min, 36 min, 1.8 h, 5.5 h and 16.4 h: quick retries ride out a blip,
// and the last attempt comes about 24.6 h after the first, so a Slack
// outage of up to a day loses nothing. Answers 429 do not count, but a job
// that Slack still rate-limits once that window (counted from the job's
// creation, so a redelivery gets a window of its own) has passed fails: a
// webhook that answers 429 forever must not keep a job alive forever.
const MaxAttempts = 10

// retryWindow is the time from a delivery's first attempt to its last,
// without jitter: about 24.6 h from the 9 s base.
func retryWindow(base time.Duration) time.Duration {
	var total time.Duration
	for n := 1; n < MaxAttempts; n++ {
		total += retryWait(base, n)
	}
	return total
}

// worker makes one delivery per job.
type worker struct {
	river.WorkerDefaults[deliverArgs]

	d        *Dispatcher
	kinds    map[string]Kind    // by deliverArgs.Channel
	limiter  *ratelimit.Limiter // per channel id
	settings config.Delivery

	// retryAt holds, per job id, the time Work announced as the delivery's
	// next attempt, for NextRetry to schedule exactly that.
	retryAt sync.Map
}

func newWorker(d *Dispatcher, kinds []Kind, s config.Delivery) *worker {
	w := &worker{d: d, kinds: make(map[string]Kind, len(kinds)), limiter: ratelimit.New(s.ChannelInterval, s.ChannelBurst), settings: s}
	for _, k := range kinds {
		w.kinds[k.Name()] = k
	}
	return w
}

// policy is the state machine's numbers for a kind.
func (w *worker) policy(k Kind) Policy {
	return Policy{RetryBase: w.settings.RetryBase, RateLimitWait: w.settings.RateLimitWait,
		RateLimitedFor: w.settings.RateLimitedFor, MaxAttempts: MaxAttempts, Jitter: jitter, Sustained: k.sustained()}
}

// Work delivers one event to one channel. The channel's answer decides
// the job's fate: done, snoozed (429, or the channel's own rate), retried
// with backoff, or cancelled for good.
func (w *worker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	k, ok := w.kinds[job.Args.kindName()]
	if !ok {
		return river.JobCancel(fmt.Errorf("delivery %s: unknown channel kind %q", job.Args.DeliveryID, job.Args.Channel))
	}
	t, err := k.load(ctx, w, job.Args.DeliveryID)
	if err != nil || t == nil || t.del.final() || (t.del.JobID != nil && *t.del.JobID != job.ID) {
		// No delivery: its channel was removed, and its log with it. A
		// final one was settled by an earlier run of this job; another
		// job owns one that was redelivered.
		return err
	}
	if !t.enabled {
		return w.skip(ctx, k, &t.del)
	}
	// Keep to Slack's one message a second per channel (and spare any
	// other receiver a burst). The job gives up its worker slot while it
	// waits.
	if ok, wait := w.limiter.Allow(t.del.ChannelID); !ok {
		return river.JobSnooze(wait)
	}
	if err := w.begin(ctx, k.tables(), &t.del); err != nil {
		if store.IsGone(err) {
			return nil // removed with its channel or project since load
		}
		return err
	}
	r := w.post(ctx, k, t)
	return w.settle(ctx, k, job, t, r)
}

// begin records the attempt as started before its request goes out, so
// that a server dying before the answer is recorded leaves it behind:
// rescueAbandoned, or the next attempt here, records it as of unknown
// outcome. The delivery's attempts count it from now on.
func (w *worker) begin(ctx context.Context, tb kindTables, del *Delivery) error {
	err := w.d.store.ExecAll(ctx,
		store.Stmt{SQL: "UPDATE " + tb.deliveries + " SET attempts = attempts + 1, unknown_attempts = unknown_attempts + " +
			"(SELECT count(*) FROM " + tb.attempts + " WHERE outcome = ? AND delivery_id = ?) WHERE id = ?",
			Args: []any{OutcomeStarted, del.ID, del.ID}},
		store.Stmt{SQL: "UPDATE " + tb.attempts + " SET outcome = ?, error = ? WHERE delivery_id = ? AND outcome = ?",
			Args: []any{OutcomeUnknown, unknownError, del.ID, OutcomeStarted}},
		store.Stmt{SQL: "INSERT INTO " + tb.attempts + " (delivery_id, attempted_at, duration_ms, outcome) VALUES (?, ?, 0, ?)",
			Args: []any{del.ID, store.Now(), OutcomeStarted}},
	)
	if err != nil {
		return fmt.Errorf("start attempt of delivery %s: %w", del.ID, err)
	}
	return nil
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
	return jitter(retryWait(base, n))
}

// retryWait is the wait after the n-th failed attempt without jitter.
func retryWait(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n; i++ {
		d *= 3
	}
	return d
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// target is a delivery with what its attempt needs: the channel and the
// message's content.
type target struct {
	del Delivery // ID, ChannelID, EventID, Status, JobID and OrderedBy only
	// enabled and health are the channel's, whatever its kind.
	enabled bool
	health  Health
	// channel is a Slack delivery's channel.
	channel slack.Channel
	// webhook is a webhook delivery's endpoint and payload facts.
	webhook *webhookTarget
	// callback is a callback delivery's approval and payload facts.
	callback *callbackTarget
	// event is nil when the event's row is gone.
	event   *event.Event
	details slack.Details
	// detailsErr is why the details are missing, if they are.
	detailsErr error
}

// targetQuery reads a delivery, its channel, its event, the event's
// project and approval in one round trip.
const targetQuery = `SELECT d.id, d.channel_id, d.event_id, d.status, d.job_id, d.ordered_by,
	c.id, c.project_id, c.enabled, c.webhook_url_enc, c.key_version,
	e.id, e.type, e.occurred_at, e.project_id, e.approval_id, e.key_path, e.action, e.attempts, e.max_attempts, e.reason,
	p.name, a.id, a.info, a.expires_at
FROM deliveries d
JOIN slack_channels c ON c.id = d.channel_id
LEFT JOIN events e ON e.id = d.event_id
LEFT JOIN projects p ON p.id = e.project_id
LEFT JOIN approvals a ON a.id = e.approval_id
WHERE d.id = ?`

// load returns the delivery with its channel and message content, or nil
// for a delivery (or channel) that no longer exists.
func (w *worker) load(ctx context.Context, id string) (*target, error) {
	var (
		t           target
		eventID     sql.NullInt64
		eventType   sql.NullString
		occurredAt  sql.NullTime
		eventProj   sql.NullString
		keyPath     sql.NullString
		projectName sql.NullString
		approvalID  sql.NullString
		expiresAt   sql.NullTime
		ev          event.Event
		info        *string
	)
	err := w.d.store.DB(ctx).Raw(targetQuery, id).Row().Scan(
		&t.del.ID, &t.del.ChannelID, &t.del.EventID, &t.del.Status, &t.del.JobID, &t.del.OrderedBy,
		&t.channel.ID, &t.channel.ProjectID, &t.channel.Enabled, &t.channel.WebhookURLEnc, &t.channel.KeyVersion,
		&eventID, &eventType, &occurredAt, &eventProj, &ev.ApprovalID, &keyPath, &ev.Action, &ev.Attempts, &ev.MaxAttempts, &ev.Reason,
		&projectName, &approvalID, &info, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	t.enabled = t.channel.Enabled
	t.loadDetails(eventID, eventType, occurredAt, eventProj, keyPath, projectName, approvalID, expiresAt, ev, info)
	return &t, nil
}

// loadDetails fills in the event and the message's details from the
// columns a kind's target query read.
func (t *target) loadDetails(eventID sql.NullInt64, eventType sql.NullString, occurredAt sql.NullTime, eventProj, keyPath, projectName,
	approvalID sql.NullString, expiresAt sql.NullTime, ev event.Event, info *string) {
	switch {
	case !eventID.Valid:
		t.detailsErr = fmt.Errorf("load event %d: %w", t.del.EventID, gorm.ErrRecordNotFound)
	case !projectName.Valid:
		t.detailsErr = fmt.Errorf("load project %s: %w", eventProj.String, gorm.ErrRecordNotFound)
	default:
		ev.ID, ev.Type, ev.OccurredAt, ev.ProjectID, ev.KeyPath = eventID.Int64, event.Type(eventType.String), occurredAt.Time, eventProj.String, keyPath.String
		t.event = &ev
		t.details.ProjectName = projectName.String
		if approvalID.Valid {
			if info != nil {
				t.details.Info = *info
			}
			t.details.ExpiresAt = expiresAt.Time
		}
	}
}

// skip settles a delivery whose channel was disabled after the event.
func (w *worker) skip(ctx context.Context, k Kind, del *Delivery) error {
	err := w.d.store.WithTx(ctx, func(ctx context.Context) error {
		err := w.d.store.DB(ctx).Table(k.tables().deliveries).Where("id = ?", del.ID).
			Updates(map[string]any{"status": slack.StatusSkipped, "next_attempt_at": nil}).Error
		if err != nil {
			return err
		}
		return w.d.wakeNext(ctx, k.Name(), del)
	})
	if err != nil {
		return fmt.Errorf("skip delivery %s: %w", del.ID, err)
	}
	w.d.countOutcome(k.Name(), slack.StatusSkipped)
	w.d.logger.InfoContext(ctx, k.Name()+" delivery skipped: channel disabled", "delivery", del.ID, "channel", del.ChannelID)
	return nil
}

// post formats the event's message and sends it. Failures to get that
// far come back as a Result with Err, to be recorded and retried like a
// transport error.
func (w *worker) post(ctx context.Context, k Kind, t *target) slack.Result {
	m, err := k.Format(ctx, t)
	if err != nil {
		return slack.Result{Err: err}
	}
	return k.Post(ctx, t, m)
}

// render builds the message of an event in the words of the product page.
func render(t *target) ([]byte, error) {
	if t.detailsErr != nil {
		return nil, t.detailsErr
	}
	msg, err := slack.Message(*t.event, t.details)
	if err != nil {
		return nil, err
	}
	return msg.JSON()
}

// settle records the attempt and its consequences on the delivery and the
// channel, and tells River what to do with the job.
func (w *worker) settle(ctx context.Context, k Kind, job *river.Job[deliverArgs], t *target, r slack.Result) error {
	del := &t.del
	outcome := k.Classify(r)
	now := store.Now()
	lastError := slack.ErrorText(r, outcome)
	dec := Next(Input{Outcome: outcome, RetryAfter: r.RetryAfter, Attempt: job.Attempt, Enqueued: job.CreatedAt, Now: now, Health: t.health},
		w.policy(k))
	var (
		nextAttempt *time.Time
		deliveredAt *time.Time
		result      error
	)
	switch dec.Step {
	case StepDelivered:
		deliveredAt = &now
	case StepSnooze:
		nextAttempt = &dec.At
		result = river.JobSnooze(dec.At.Sub(now))
	case StepRetry:
		w.retryAt.Store(job.ID, dec.At)
		nextAttempt = &dec.At
		result = errors.New(dec.Why)
	case StepFailed:
		if outcome.Kind == slack.RateLimited {
			lastError += ": " + dec.Why
		}
		if outcome.Kind == slack.Retryable && dec.Disable == "" {
			// Out of attempts: River discards the job itself.
			result = errors.New(dec.Why)
		} else {
			result = river.JobCancel(errors.New(dec.Why))
		}
	}

	stmts := settleStmts(k, t, r, outcome, dec, settled{lastError: lastError, nextAttempt: nextAttempt, deliveredAt: deliveredAt}, now)
	// Record even when the job's context ended (timeout, shutdown): the
	// request was made.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	write := func(ctx context.Context) error { return w.d.store.ExecAll(ctx, stmts...) }
	if del.OrderedBy != nil && (dec.Step == StepDelivered || dec.Step == StepFailed) {
		// Settled: the next delivery of its approval may go (order.go), in
		// the same transaction, so that a crash cannot leave it held.
		// Mostly none is held: then the statements and that check are one
		// round trip and the commit another (ExecAllUnless); a held one
		// rolls them back and takes the transaction below.
		write = func(ctx context.Context) error {
			done, err := w.d.store.ExecAllUnless(ctx, heldNext(k.tables().deliveries, del), stmts...)
			if err != nil || done {
				return err
			}
			return w.d.store.WithTx(ctx, func(ctx context.Context) error {
				if err := w.d.store.ExecAll(ctx, stmts...); err != nil {
					return err
				}
				return w.d.wakeNext(ctx, k.Name(), del)
			})
		}
	}
	if err := write(rctx); err != nil {
		w.retryAt.Delete(job.ID)
		return fmt.Errorf("settle delivery %s: %w", del.ID, err)
	}
	w.d.countOutcome(k.Name(), dec.Status)

	level := slog.LevelInfo
	if outcome.Kind != slack.Delivered {
		level = slog.LevelWarn
	}
	w.d.logger.Log(ctx, level, k.Name()+" delivery attempt", "delivery", del.ID, "channel", del.ChannelID,
		"outcome", outcome.Kind.String(), "status", dec.Status, "http_status", r.StatusCode,
		"reason", outcome.Reason, "err", r.Err, "attempt", job.Attempt, "took_ms", float64(r.Latency.Microseconds())/1000)
	if dec.Disable != "" {
		w.d.logger.WarnContext(ctx, k.Name()+" channel disabled by its deliveries", "channel", del.ChannelID, "reason", dec.Disable)
	}
	return result
}

// settled is what settle decided for a delivery's row.
type settled struct {
	lastError   string
	nextAttempt *time.Time
	deliveredAt *time.Time
}

// settleStmts are settle's writes: the delivery's new state, the attempt
// begin started and the channel's last delivery, as one unit (one round
// trip on PostgreSQL). A delivery's delivered_at is kept once set.
//
// The delivery's row comes first, then its attempt, then its channel (the
// lock order of internal/domain/project/lock.go): begin takes them in that
// order, and so does a delete of a channel or project, whose attempts go
// with its deliveries through the cascade. With the attempt first, a
// delete that took the delivery waited for the attempt while the settle
// waited for the delivery, and PostgreSQL aborted one of them.
func settleStmts(k Kind, t *target, r slack.Result, outcome slack.Outcome, dec Decision, s settled, now time.Time) []store.Stmt {
	del := &t.del
	var attemptError *string
	if r.Err != nil {
		attemptError = store.NullIfEmpty(r.Err.Error())
	}
	tb := k.tables()
	return []store.Stmt{
		{SQL: "UPDATE " + tb.deliveries + " SET status = ?, last_status_code = ?, last_error = ?, " +
			"next_attempt_at = ?, delivered_at = COALESCE(?, delivered_at) WHERE id = ?",
			Args: []any{dec.Status, positive(r.StatusCode), store.NullIfEmpty(s.lastError), s.nextAttempt, s.deliveredAt, del.ID}},
		{SQL: "UPDATE " + tb.attempts + " SET status_code = ?, body = ?, duration_ms = ?, error = ?, outcome = ? " +
			"WHERE delivery_id = ? AND outcome = ?",
			Args: []any{positive(r.StatusCode), store.NullIfEmpty(r.Body), int(r.Latency.Milliseconds()), attemptError, outcome.Kind.String(), del.ID, OutcomeStarted}},
		k.outcomeStmt(t, dec, s.lastError, now),
	}
}

func positive(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}
