package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr/backend/internal/platform/store"
)

// A delivery's job runs for at most jobSlack plus the request's timeout
// (River then cancels its context) and settleTimeout more to record the
// answer. A job still running past that, plus leaseMargin, was left by a
// process that died: rescueAbandoned makes it available again. River's
// own rescuer would do the same, but only every 30 s on the leader, which
// a restarted instance becomes only once the dead one's term has expired.
const (
	jobSlack      = 2 * time.Second
	settleTimeout = 5 * time.Second
	leaseMargin   = 3 * time.Second

	// riverRescueBackstop is how much later River's own rescuer takes
	// over, should rescueAbandoned keep failing.
	riverRescueBackstop = time.Minute

	// rescueBatch bounds the jobs one rescue reads.
	rescueBatch = 500
)

// Attempt outcomes besides a slack.Kind's.
const (
	// OutcomeStarted marks an attempt whose request is being made.
	OutcomeStarted = "started"
	// OutcomeUnknown marks an attempt whose request was in flight when its
	// server died: Slack may have posted the message, and the next attempt
	// may post it again.
	OutcomeUnknown = "unknown"
)

// leaseOf is how long a delivery's job may run before it counts as
// abandoned: the configured RescueStuckJobsAfter, or the longest a live job
// can take.
func leaseOf(configured, httpTimeout time.Duration) time.Duration {
	if configured > 0 {
		return configured
	}
	return httpTimeout + jobSlack + settleTimeout + leaseMargin
}

// rescueEvery is how often an instance looks for abandoned jobs.
func rescueEvery(lease time.Duration) time.Duration {
	return min(2*time.Second, max(lease/4, 50*time.Millisecond))
}

// runRescue rescues abandoned jobs every interval until ctx ends.
func (d *Dispatcher) runRescue(ctx context.Context, lease, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if _, err := d.rescueAbandoned(ctx, time.Now().Add(-lease)); err != nil && ctx.Err() == nil {
			d.logger.Error("rescuing abandoned Slack deliveries failed; trying again", "err", err)
		}
	}
}

// rescueAbandoned makes the delivery jobs that started running before
// horizon available again, and records the attempt each left unfinished
// as of unknown outcome. It returns how many jobs it rescued. Instances
// may run it at once: each job is rescued, and its attempt recorded, once.
func (d *Dispatcher) rescueAbandoned(ctx context.Context, horizon time.Time) (int, error) {
	// A read first, so that the usual finding, nothing, takes no lock (on
	// SQLite, no write transaction).
	stuck, err := d.driver.GetExecutor().JobGetStuck(ctx, &riverdriver.JobGetStuckParams{Max: rescueBatch, StuckHorizon: horizon})
	if err != nil {
		return 0, fmt.Errorf("find abandoned delivery jobs: %w", err)
	}
	ids := make([]int64, 0, len(stuck))
	for _, j := range stuck {
		if j.Kind == (deliverArgs{}).Kind() {
			ids = append(ids, j.ID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}

	var rescued, unknown int
	unknownOf := map[string]int{} // by kind
	err = d.store.WithTx(ctx, func(ctx context.Context) error {
		tx, err := store.SQLTx(ctx)
		if err != nil {
			return err
		}
		// Read them again under lock: another instance may have rescued
		// them meanwhile (SQLite's write lock, taken at BEGIN, already
		// keeps everyone else out).
		jobs, err := d.stillRunning(ctx, tx, ids, horizon)
		if err != nil || len(jobs) == 0 {
			return err
		}
		now := time.Now().UTC()
		params := riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range jobs {
			var args deliverArgs
			if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
				return fmt.Errorf("read job %d: %w", j.ID, err)
			}
			n, err := d.markUnknown(ctx, tablesOf(args.kindName()), args.DeliveryID, &j.ID)
			if err != nil {
				return err
			}
			unknown += n
			unknownOf[args.kindName()] += n
			reason, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: j.Attempt,
				Error: "abandoned by a server that stopped while running it; the outcome of its request is unknown"})
			if err != nil {
				return fmt.Errorf("describe rescue of job %d: %w", j.ID, err)
			}
			params.ID = append(params.ID, j.ID)
			params.Error = append(params.Error, reason)
			params.FinalizedAt = append(params.FinalizedAt, nil)
			params.ScheduledAt = append(params.ScheduledAt, now)
			params.State = append(params.State, string(rivertype.JobStateAvailable))
		}
		if _, err := d.driver.UnwrapExecutor(tx).JobRescueMany(ctx, &params); err != nil {
			return fmt.Errorf("make %d abandoned delivery jobs available: %w", len(params.ID), err)
		}
		rescued = len(params.ID)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if rescued > 0 {
		for kind, n := range unknownOf {
			d.countUnknown(kind, n)
		}
		d.logger.Warn("slack deliveries abandoned by a stopped server are sent again", "jobs", rescued, "unknown_outcomes", unknown)
	}
	return rescued, nil
}

// stillRunning returns those of the jobs ids that are still running since
// before horizon, locking them on PostgreSQL until tx ends.
func (d *Dispatcher) stillRunning(ctx context.Context, tx *sql.Tx, ids []int64, horizon time.Time) ([]*rivertype.JobRow, error) {
	// River's fetch and completer lock the row too: once this holds it,
	// neither changes it under the rescue.
	if err := d.store.LockRowsTx(ctx, tx, "river_job", ids...); err != nil {
		return nil, fmt.Errorf("lock abandoned delivery jobs: %w", err)
	}
	exec := d.driver.UnwrapExecutor(tx)
	var out []*rivertype.JobRow
	for _, id := range ids {
		j, err := exec.JobGetByID(ctx, &riverdriver.JobGetByIDParams{ID: id})
		if err != nil {
			if errors.Is(err, rivertype.ErrNotFound) {
				continue
			}
			return nil, fmt.Errorf("read job %d: %w", id, err)
		}
		if j.State == rivertype.JobStateRunning && j.AttemptedAt != nil && j.AttemptedAt.Before(horizon) {
			out = append(out, j)
		}
	}
	return out, nil
}

// markUnknown records the started attempts of a delivery as of unknown
// outcome, counts them on the delivery, and returns how many there were.
// With jobID, only while that job owns the delivery.
func (d *Dispatcher) markUnknown(ctx context.Context, tb kindTables, deliveryID string, jobID *int64) (int, error) {
	db := d.store.DB(ctx)
	owned := "id = ?"
	args := []any{OutcomeStarted, deliveryID, deliveryID}
	if jobID != nil {
		owned += " AND job_id = ?"
		args = append(args, *jobID)
	}
	res := db.Exec("UPDATE "+tb.deliveries+" SET unknown_attempts = unknown_attempts + "+
		"(SELECT count(*) FROM "+tb.attempts+" WHERE outcome = ? AND delivery_id = ?) WHERE "+owned, args...)
	if res.Error != nil {
		return 0, fmt.Errorf("count unknown attempts of delivery %s: %w", deliveryID, res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, nil
	}
	res = db.Exec("UPDATE "+tb.attempts+" SET outcome = ?, error = ? WHERE delivery_id = ? AND outcome = ?",
		OutcomeUnknown, unknownError, deliveryID, OutcomeStarted)
	if res.Error != nil {
		return 0, fmt.Errorf("mark unknown attempts of delivery %s: %w", deliveryID, res.Error)
	}
	return int(res.RowsAffected), nil
}

// unknownError is the error of an attempt of unknown outcome.
const unknownError = "the server stopped during the request; Slack may have posted the message"
