package approval

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// DeadlineQueue is the River queue of the deadline sweeps: apart from the
// Slack deliveries, so that a backlog of either never delays the other.
const DeadlineQueue = "deadlines"

// SweepEvery is how often the deadlines are swept: River's shortest
// periodic interval, so that a reminder or an expiry comes within about a
// second of its time.
const SweepEvery = time.Second

// sweepTimeout bounds one sweep; the next one carries on where it stopped.
const sweepTimeout = 30 * time.Second

// deadlineArgs is the periodic sweep's job. It is not retried: the next
// one, a second later, does the same work. Nor is it unique: a sweep left
// running by a killed process would then hold back every later one until
// River rescued it, tens of seconds on; sweeps that queue up behind a slow
// one take turns (deadlineLock) and find little left to do.
type deadlineArgs struct{}

func (deadlineArgs) Kind() string { return "approval_deadlines" }

func (deadlineArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DeadlineQueue, MaxAttempts: 1}
}

type deadlineWorker struct {
	river.WorkerDefaults[deadlineArgs]
	approvals *Service
	logger    *slog.Logger
}

func (w *deadlineWorker) Timeout(*river.Job[deadlineArgs]) time.Duration { return sweepTimeout }

func (w *deadlineWorker) Work(ctx context.Context, _ *river.Job[deadlineArgs]) error {
	swept, err := w.approvals.SweepDeadlines(ctx)
	if swept.Reminded+swept.Expired > 0 {
		w.logger.DebugContext(ctx, "approval deadlines swept", "reminded", swept.Reminded, "expired", swept.Expired)
	}
	return err
}

// AddDeadlineWorker registers the sweep's worker. Every instance registers
// it, since any of them may fetch the job.
func (s *Service) AddDeadlineWorker(workers *river.Workers, logger *slog.Logger) error {
	return river.AddWorkerSafely(workers, &deadlineWorker{approvals: s, logger: logger})
}

// DeadlineSweeps is the periodic job that the elected River leader inserts
// every SweepEvery, the first one at once, while any project has opted in
// (DeadlinesWanted): a server where none has inserts no job at all.
func (s *Service) DeadlineSweeps() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(SweepEvery), func() (river.JobArgs, *river.InsertOpts) {
		if !s.DeadlinesWanted() {
			return nil, nil // River inserts nothing this time
		}
		return deadlineArgs{}, nil
	}, &river.PeriodicJobOpts{ID: deadlineArgs{}.Kind(), RunOnStart: true})
}
