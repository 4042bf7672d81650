package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ottr/backend/internal/domain/notify"
)

// Stage is one stage of a delivery's way from its event to its receiver,
// over the deliveries of the measured phases (the warm-ups' left out),
// read from the run's own rows after the last measured phase.
type Stage struct {
	Name string `json:"name"`
	// Span says which two times the stage lies between.
	Span string `json:"span"`
	// Deliveries is how many deliveries the stage has both ends of.
	Deliveries int     `json:"deliveries"`
	P50Ms      float64 `json:"p50Ms"`
	P95Ms      float64 `json:"p95Ms"`
	P99Ms      float64 `json:"p99Ms"`
}

// The stages of a webhook delivery, and the total they are compared to.
const (
	stageFanout  = "fan-out"
	stageQueue   = "queue"
	stagePickup  = "pickup"
	stageRequest = "request"
	stageTotal   = "total"
)

var stageSpans = map[string]string{
	stageFanout:  "event occurred_at → delivery created_at",
	stageQueue:   "River job created_at → attempted_at",
	stagePickup:  "River job attempted_at → attempt attempted_at",
	stageRequest: "attempt duration_ms",
	stageTotal:   "commit confirmed → request at the receiver",
}

// newStage summarizes one stage's durations.
func newStage(name string, d []time.Duration) Stage {
	slices.Sort(d)
	return Stage{Name: name, Span: stageSpans[name], Deliveries: len(d),
		P50Ms: ms(percentile(d, 0.50)), P95Ms: ms(percentile(d, 0.95)), P99Ms: ms(percentile(d, 0.99))}
}

// webhookStagesQuery reads, for each delivery to the given endpoints of
// an event with one of the given key paths, its event's time, its own
// creation, its River job's creation and first run, and its first
// attempt's start and duration. The event's, the delivery's and the
// attempt's times are the server's clock; the job's are the database's
// (now(): the fan-out transaction's start, and the fetch).
const webhookStagesQuery = `SELECT e.occurred_at, d.created_at, j.created_at, j.attempted_at, j.attempt, a.attempted_at, a.duration_ms, a.outcome
FROM webhook_deliveries d
JOIN events e ON e.id = d.event_id
LEFT JOIN river_job j ON j.id = d.job_id
LEFT JOIN LATERAL (SELECT attempted_at, duration_ms, outcome FROM webhook_delivery_attempts
	WHERE delivery_id = d.id ORDER BY id LIMIT 1) a ON true
WHERE d.channel_id = ANY($1) AND e.key_path = ANY($2)`

// stagesSettleWait bounds how long the stages wait for the last attempts
// to end.
const stagesSettleWait = 5 * time.Second

// readSettledWebhookStages is readWebhookStages once every delivery's
// first attempt has ended, or after stagesSettleWait: the receiver counts
// a delivery when its request arrives, and the server records the
// attempt's end only once it has the answer, a moment later.
func readSettledWebhookStages(ctx context.Context, q querier, endpoints, keyPaths []string) ([]Stage, error) {
	deadline := time.Now().Add(stagesSettleWait)
	for {
		stages, err := readWebhookStages(ctx, q, endpoints, keyPaths)
		if err != nil {
			return nil, err
		}
		fanout, request := stages[0], stages[3] // in readWebhookStages' order
		if request.Deliveries >= fanout.Deliveries || time.Now().After(deadline) {
			return stages, err
		}
		select {
		case <-ctx.Done():
			return stages, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readWebhookStages reads where the time of the deliveries of the events
// with the given key paths to the given endpoints went, stage by stage.
// A stage counts a delivery once both its ends are written: the queue and
// the pickup only for a job on its first run (a retried job's attempted_at
// is its last run's), the request only once the attempt has ended (an
// attempt in flight records 0 ms until its answer).
func readWebhookStages(ctx context.Context, q querier, endpoints, keyPaths []string) ([]Stage, error) {
	var fanout, queue, pickup, request []time.Duration
	err := q.query(ctx, func(r row) error {
		var (
			occurred, created                   time.Time
			jobCreated, jobAttempted, attempted *time.Time
			jobAttempt, durationMs              *int
			outcome                             *string
		)
		if err := r.Scan(&occurred, &created, &jobCreated, &jobAttempted, &jobAttempt, &attempted, &durationMs, &outcome); err != nil {
			return err
		}
		fanout = append(fanout, created.Sub(occurred))
		firstRun := jobAttempt != nil && *jobAttempt == 1 && jobAttempted != nil
		if firstRun && jobCreated != nil {
			queue = append(queue, jobAttempted.Sub(*jobCreated))
		}
		if firstRun && attempted != nil {
			pickup = append(pickup, attempted.Sub(*jobAttempted))
		}
		if durationMs != nil && outcome != nil && *outcome != notify.OutcomeStarted {
			request = append(request, time.Duration(*durationMs)*time.Millisecond)
		}
		return nil
	}, webhookStagesQuery, endpoints, keyPaths)
	if err != nil {
		return nil, fmt.Errorf("read the webhook deliveries' stages: %w", err)
	}
	return []Stage{newStage(stageFanout, fanout), newStage(stageQueue, queue), newStage(stagePickup, pickup),
		newStage(stageRequest, request)}, nil
}
