package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ottr/backend/internal/event"
)

// Business are the counts an operator watches the product by: approvals
// created and decided, how long deciding took, and deliveries by the kind
// of channel they go to.
type Business struct {
	ApprovalsCreated prometheus.Counter
	ApprovalsDecided *prometheus.CounterVec
	DecisionSeconds  *prometheus.HistogramVec
	Deliveries       *prometheus.CounterVec
}

// Outcomes of an approval: the final statuses, as the decided counter's
// label.
var outcomes = map[event.Type]string{
	event.ApprovalExecuted:    "executed",
	event.ApprovalExpired:     "expired",
	event.ApprovalInvalidated: "invalidated",
	event.TokenLocked:         "locked",
}

func newBusiness(r *prometheus.Registry) Business {
	b := Business{
		ApprovalsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ottr_approvals_created_total", Help: "Approvals created.",
		}),
		ApprovalsDecided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ottr_approvals_decided_total", Help: "Approvals that reached a final status, by outcome: executed, expired, invalidated, locked.",
		}, []string{"outcome"}),
		// From seconds (a person at the screen) to a day (the longest
		// usual TTL).
		DecisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ottr_approval_decision_seconds", Help: "Time from an approval's creation to its final status, by outcome.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400},
		}, []string{"outcome"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ottr_deliveries_total", Help: "Delivery attempts by channel kind (slack, webhook, callback) and outcome: delivered, retrying, failed, skipped, unknown.",
		}, []string{"kind", "outcome"}),
	}
	for _, o := range outcomes {
		b.ApprovalsDecided.WithLabelValues(o)
	}
	r.MustRegister(b.ApprovalsCreated, b.ApprovalsDecided, b.DecisionSeconds, b.Deliveries)
	return b
}

// ApprovalEvent counts a committed event of an approval. Called after
// commit on the instance that recorded it, so each event counts once
// however many instances hear of it.
func (b Business) ApprovalEvent(ev event.Event) {
	if ev.Type == event.ApprovalCreated {
		b.ApprovalsCreated.Inc()
		return
	}
	outcome, final := outcomes[ev.Type]
	if !final {
		return
	}
	b.ApprovalsDecided.WithLabelValues(outcome).Inc()
	if !ev.ApprovalCreatedAt.IsZero() {
		b.DecisionSeconds.WithLabelValues(outcome).Observe(max(0, ev.OccurredAt.Sub(ev.ApprovalCreatedAt).Seconds()))
	}
}
