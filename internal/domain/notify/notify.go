// Package notify delivers recorded events to Slack channels through River
// jobs. Once an event has committed, the fan-out (fanout.go) inserts one
// delivery row and one job per enabled channel that selected its type,
// from a durable cursor in the event log, so a rolled-back change sends
// nothing and a committed one is delivered even across crashes; the
// worker posts the message and follows Slack's answer (DESIGN §3).
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/metrics"
	"github.com/ottr/backend/internal/platform/store"
)

// Production defaults of config.Delivery.
const (
	DefaultFetchPollInterval = time.Second
	DefaultRetryBase         = 9 * time.Second
	DefaultRateLimitWait     = time.Minute
	DefaultChannelInterval   = time.Second
	DefaultChannelBurst      = 3
	DefaultStopTimeout       = 12 * time.Second
)

// DefaultRescueStuckJobsAfter is how long a delivery's job may run before
// it counts as abandoned by a dead process and is sent again: 20 s with
// the 10 s request timeout, so that what a crash interrupted resumes
// within about 22 s of the restart.
var DefaultRescueStuckJobsAfter = leaseOf(0, slack.DefaultTimeout)

const (
	queue = "slack"

	// maxWorkers is how many deliveries run at once. A worker spends most
	// of a delivery waiting for Slack (tens to hundreds of ms), holding no
	// database connection meanwhile, so this, not the CPU, bounds the
	// rate against the real Slack. At 20, `ottr-bench dispatch` (600
	// deliveries/s to a Slack that answers at once) saw p95 commit→Slack
	// swing from 45 to 550 ms as deliveries queued for a worker; 50 kept
	// them from queueing (BENCHMARKS.md), and 200 gained nothing more.
	maxWorkers = 50

	// fetchCooldown spaces the queue's fetches after wake-ups, so a job
	// committed just after a fetch waits up to this long for the next.
	// At 10 ms, an event recorded right after another one's delivery
	// waited 7–9 ms for its fetch (BenchmarkCommitToSlack/postgres/
	// producers=1: p50 7.4 ms, against 1.0 ms at River's 1 ms minimum).
	// The fetches stay bounded by the insert notifications that trigger
	// them, which River sends at most once per insertNotifyCooldown.
	fetchCooldown = time.Millisecond

	// sqliteFetchCooldown is fetchCooldown on SQLite. Without LISTEN,
	// River wakes the queue as the jobs are inserted, inside the event's
	// transaction, and the fetch then waits for that transaction's write
	// lock; 10 ms lets wake-ups that come close together share a fetch.
	// At 1 ms, BenchmarkCommitToSlack/sqlite/producers=1 went from p50 42
	// to 49 ms.
	sqliteFetchCooldown = 10 * time.Millisecond

	// insertNotifyCooldown is River's client-wide FetchCooldown, which
	// also throttles its insert notifications: River wakes the workers
	// for a queue at most once per cooldown, and a job committed just
	// after a wake-up's fetch then waits for the next poll. At River's
	// 100 ms default, every event within 100 ms of another waited for
	// the poll interval; at the 1 ms minimum almost none does.
	insertNotifyCooldown = time.Millisecond
)

// Dispatcher fans committed events out to their deliveries and works them.
type Dispatcher struct {
	store    *store.Store
	channels *slack.Service
	// endpoints are the webhook endpoints; nil: no webhook deliveries.
	endpoints *webhook.Service
	// callbacks are the approvals' callbacks; nil: no callback deliveries.
	callbacks *webhook.Callbacks
	authz     *project.Authorizer
	river     *river.Client[*sql.Tx]
	driver    riverdriver.Driver[*sql.Tx]
	// closeDriver frees what River's driver holds of its own (on
	// PostgreSQL its LISTEN connection's pool).
	closeDriver func()
	logger      *slog.Logger
	stopWait    time.Duration
	// stopping is set once Stop begins (stopQuiet).
	stopping atomic.Bool
	// requestTimeout bounds one webhook request.
	requestTimeout time.Duration
	// outcomes counts settled attempts by the delivery's new status; nil
	// without metrics.
	outcomes *prometheus.CounterVec
	// byKind is ottr_deliveries_total, by kind (slack, webhook, callback)
	// and outcome.
	byKind *prometheus.CounterVec

	// fanout reads the log into deliveries (fanout.go), and cursorSaved
	// is when it last stored the cursor (only its handler's).
	fanout      *event.Consumer
	cursorSaved time.Time
	stopRescue  context.CancelFunc // ends runRescue
	rescueDone  sync.WaitGroup
}

// Options are what Start needs.
type Options struct {
	Store    *store.Store
	Channels *slack.Service
	// Endpoints, when set, has events delivered to webhook endpoints too.
	Endpoints *webhook.Service
	// Callbacks, when set with Endpoints, has approvals' events delivered
	// to their callback URLs.
	Callbacks *webhook.Callbacks
	// Authz authorizes the lists of a whole project's deliveries.
	Authz    *project.Authorizer
	Client   *slack.Client
	Settings config.Delivery
	Logger   *slog.Logger
	// Metrics, when set, counts deliveries by outcome.
	Metrics *metrics.Metrics
	// Jobs are other packages' River work, run by this client too: River
	// elects one leader per database among all clients, and only the
	// leader inserts periodic jobs, so a second client's would not run.
	Jobs []Jobs
}

// Jobs is another package's work on the dispatcher's River client: a queue
// of its own, its workers and its periodic jobs.
type Jobs struct {
	Queue      string
	MaxWorkers int
	Register   func(*river.Workers) error
	Periodic   []*river.PeriodicJob
}

// Start migrates River's tables (after ours) and starts the workers. Stop
// it when done.
func Start(ctx context.Context, o Options) (*Dispatcher, error) {
	s := withDefaults(o.Settings)
	d := &Dispatcher{store: o.Store, channels: o.Channels, endpoints: o.Endpoints, callbacks: o.Callbacks, authz: o.Authz, logger: o.Logger,
		stopWait: s.StopTimeout, requestTimeout: s.HTTPTimeout,
		stopRescue: func() {}}
	if o.Metrics != nil {
		d.outcomes = o.Metrics.SlackDeliveries
		d.byKind = o.Metrics.Deliveries
	}

	drv, closeDriver, err := o.Store.RiverDriver(ctx)
	if err != nil {
		return nil, err
	}
	d.closeDriver = closeDriver
	cooldown := fetchCooldown
	if !o.Store.Shared() {
		cooldown = sqliteFetchCooldown
	}

	if err := migrate(ctx, o.Store, drv, o.Logger); err != nil {
		d.closeListener()
		return nil, err
	}
	d.driver = drv
	// Not shorter than a job may run, else a live one would be sent twice.
	jobTimeout := s.HTTPTimeout + jobSlack
	lease := max(leaseOf(s.RescueStuckJobsAfter, s.HTTPTimeout), jobTimeout)
	if !o.Store.Shared() {
		// One process serves a SQLite file: a job still running before
		// this one starts was abandoned by the previous process.
		if _, err := d.rescueAbandoned(ctx, time.Now()); err != nil {
			d.closeListener()
			return nil, err
		}
	}

	kinds := []Kind{slackKind{store: o.Store, client: o.Client, channels: o.Channels}}
	if o.Endpoints != nil {
		sustain := Sustained{Deliveries: s.WebhookFailedDeliveries, For: s.WebhookFailingFor}
		kinds = append(kinds, webhookKind{store: o.Store, endpoints: o.Endpoints, sustain: sustain})
		if o.Callbacks != nil {
			kinds = append(kinds, callbackKind{store: o.Store, keys: o.Callbacks.Keys(), client: o.Endpoints.Client()})
		}
	}
	w := newWorker(d, kinds, s)
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, w); err != nil {
		d.closeListener()
		return nil, fmt.Errorf("river worker: %w", err)
	}
	queues := map[string]river.QueueConfig{queue: {
		MaxWorkers:    maxWorkers,
		FetchCooldown: cooldown,
	}}
	var periodic []*river.PeriodicJob
	for _, j := range o.Jobs {
		if err := j.Register(workers); err != nil {
			d.closeListener()
			return nil, fmt.Errorf("river worker of queue %s: %w", j.Queue, err)
		}
		queues[j.Queue] = river.QueueConfig{MaxWorkers: j.MaxWorkers, FetchCooldown: cooldown}
		periodic = append(periodic, j.Periodic...)
	}
	d.river, err = river.NewClient(drv, &river.Config{
		FetchCooldown:     insertNotifyCooldown,
		FetchPollInterval: s.FetchPollInterval,
		// rescueAbandoned rescues jobs after lease; River's own rescuer
		// is the backstop.
		RescueStuckJobsAfter: lease + riverRescueBackstop,
		JobTimeout:           jobTimeout,
		Queues:               queues,
		PeriodicJobs:         periodic,
		Workers:              workers,
		Logger:               slog.New(stopQuiet{Handler: o.Logger.Handler(), stopping: &d.stopping}).With("component", "river"),
	})
	if err != nil {
		d.closeListener()
		return nil, fmt.Errorf("river client: %w", err)
	}
	// The workers outlive ctx: Stop ends them, letting deliveries in flight
	// finish.
	if err := d.river.Start(context.WithoutCancel(ctx)); err != nil {
		d.closeListener()
		return nil, fmt.Errorf("start river: %w", err)
	}
	if err := d.startFanout(ctx, s.FetchPollInterval); err != nil {
		_ = d.river.Stop(ctx)
		d.closeListener()
		return nil, err
	}
	rescueCtx, stopRescue := context.WithCancel(context.WithoutCancel(ctx))
	d.stopRescue = stopRescue
	d.rescueDone.Go(func() { d.runRescue(rescueCtx, lease, rescueEvery(lease)) })
	return d, nil
}

// migrationLock is the advisory lock key under which instances starting
// together apply River's migrations one after another.
const migrationLock = 0x6f7474725f726976 // "ottr_riv"

// migrate applies River's migrations (after ours). River's PostgreSQL
// migrations cannot share one transaction, so instances take turns under
// an advisory lock instead.
func migrate(ctx context.Context, st *store.Store, drv riverdriver.Driver[*sql.Tx], logger *slog.Logger) error {
	migrator, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return st.WithLock(ctx, migrationLock, func(ctx context.Context) error {
		if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("apply river migrations: %w", err)
		}
		return nil
	})
}

func withDefaults(s config.Delivery) config.Delivery {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&s.FetchPollInterval, DefaultFetchPollInterval)
	set(&s.RetryBase, DefaultRetryBase)
	set(&s.RateLimitWait, DefaultRateLimitWait)
	set(&s.RateLimitedFor, retryWindow(s.RetryBase))
	set(&s.ChannelInterval, DefaultChannelInterval)
	set(&s.HTTPTimeout, slack.DefaultTimeout)
	set(&s.StopTimeout, DefaultStopTimeout)
	set(&s.WebhookFailingFor, DefaultWebhookSustained.For)
	if s.WebhookFailedDeliveries <= 0 {
		s.WebhookFailedDeliveries = DefaultWebhookSustained.Deliveries
	}
	if s.ChannelBurst <= 0 {
		s.ChannelBurst = DefaultChannelBurst
	}
	return s
}

// Stop lets the deliveries in flight finish, up to the stop timeout, then
// cancels them (they are retried on the next start) and closes River's
// connections.
func (d *Dispatcher) Stop() error {
	d.stopping.Store(true)
	// Events not fanned out yet are fanned out by the next batch of any
	// instance.
	d.fanout.Close()
	d.stopRescue()
	d.rescueDone.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), d.stopWait)
	defer cancel()
	err := d.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		hard, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = d.river.StopAndCancel(hard)
	}
	d.closeListener()
	if err != nil {
		return fmt.Errorf("stop deliveries: %w", err)
	}
	return nil
}

func (d *Dispatcher) closeListener() {
	if d.closeDriver != nil {
		d.closeDriver()
	}
}
