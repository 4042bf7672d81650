package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// DecisionOutcomes are the decided counter's outcome labels, each exported
// at zero from the start so that rates work before the first decision.
var DecisionOutcomes = []string{"executed", "expired", "invalidated", "locked"}

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
	for _, o := range DecisionOutcomes {
		b.ApprovalsDecided.WithLabelValues(o)
	}
	r.MustRegister(b.ApprovalsCreated, b.ApprovalsDecided, b.DecisionSeconds, b.Deliveries)
	return b
}

// ApprovalCreated counts a created approval.
func (b Business) ApprovalCreated() { b.ApprovalsCreated.Inc() }

// ApprovalDecided counts an approval that reached a final status with the
// given outcome, after took (zero when its creation time is unknown).
func (b Business) ApprovalDecided(outcome string, took time.Duration, known bool) {
	b.ApprovalsDecided.WithLabelValues(outcome).Inc()
	if known {
		b.DecisionSeconds.WithLabelValues(outcome).Observe(max(0, took.Seconds()))
	}
}
