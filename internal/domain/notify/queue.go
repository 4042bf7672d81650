package notify

import (
	"context"
	"fmt"
	"strings"

	"github.com/ottr/backend/internal/domain/slack"
)

// QueueStates are the states of River jobs that are not finished: the
// queue whose depth /metrics reports.
var QueueStates = []string{"available", "pending", "retryable", "running", "scheduled"}

// QueueDepthCap bounds each state's count, so that a scrape reads at most
// this many index entries per state however far the queue has backed up;
// a depth at the cap means "at least".
const QueueDepthCap = 10000

// queueDepthQuery counts each state's jobs, up to QueueDepthCap, on
// River's (state, …) index.
var queueDepthQuery = func() string {
	parts := make([]string, len(QueueStates))
	for i, st := range QueueStates {
		parts[i] = fmt.Sprintf("(SELECT count(*) FROM (SELECT 1 FROM river_job WHERE state = '%s' LIMIT %d) AS %s)", st, QueueDepthCap, st)
	}
	return "SELECT " + strings.Join(parts, ", ")
}()

// QueueDepth returns the number of River jobs in each unfinished state
// (capped at QueueDepthCap), in one round trip.
func (d *Dispatcher) QueueDepth(ctx context.Context) (map[string]int64, error) {
	counts := make([]int64, len(QueueStates))
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := d.store.SQL().QueryRowContext(ctx, queueDepthQuery).Scan(dest...); err != nil {
		return nil, fmt.Errorf("count river jobs by state: %w", err)
	}
	out := make(map[string]int64, len(counts))
	for i, st := range QueueStates {
		out[st] = counts[i]
	}
	return out, nil
}

// countOutcome counts a settled attempt (or a skipped delivery) by the
// delivery's new status.
func (d *Dispatcher) countOutcome(status string) {
	if d.outcomes == nil {
		return
	}
	switch status {
	case slack.StatusDelivered, slack.StatusRetrying, slack.StatusFailed, slack.StatusSkipped:
		d.outcomes.WithLabelValues(strings.ToLower(status)).Inc()
		d.byKind.WithLabelValues(strings.ToLower(status)).Inc()
	}
}

// countUnknown counts attempts found unfinished after their server died.
func (d *Dispatcher) countUnknown(n int) {
	if d.outcomes != nil && n > 0 {
		d.outcomes.WithLabelValues(OutcomeUnknown).Add(float64(n))
		d.byKind.WithLabelValues(OutcomeUnknown).Add(float64(n))
	}
}
