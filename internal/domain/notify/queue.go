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

// countOutcome counts a settled attempt (or a skipped delivery) of a
// channel of kind by the delivery's new status: in ottr_deliveries_total,
// and for Slack also in ottr_slack_deliveries_total.
func (d *Dispatcher) countOutcome(kind, status string) {
	if d.outcomes == nil {
		return
	}
	switch status {
	case slack.StatusDelivered, slack.StatusRetrying, slack.StatusFailed, slack.StatusSkipped:
		d.countAs(kind, strings.ToLower(status), 1)
	}
}

// countUnknown counts attempts of a channel of kind found unfinished after
// their server died.
func (d *Dispatcher) countUnknown(kind string, n int) {
	if d.outcomes != nil && n > 0 {
		d.countAs(kind, OutcomeUnknown, n)
	}
}

func (d *Dispatcher) countAs(kind, outcome string, n int) {
	if kind == kindSlack {
		d.outcomes.WithLabelValues(outcome).Add(float64(n))
	}
	d.byKind.WithLabelValues(kind, outcome).Add(float64(n))
}
