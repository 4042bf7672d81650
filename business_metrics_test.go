package ottr

import (
	"slices"
	"testing"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/metrics"
)

// The metrics export each outcome at zero from the start, from a list of
// their own (platform knows no event type): every final event type's
// outcome must be on it, and nothing else.
func TestDecisionOutcomesMatchTheFinalEventTypes(t *testing.T) {
	var final []string
	for _, typ := range event.AllTypes {
		if outcome, ok := typ.Outcome(); ok {
			final = append(final, outcome)
		}
	}
	slices.Sort(final)
	listed := slices.Sorted(slices.Values(metrics.DecisionOutcomes))
	if !slices.Equal(final, listed) {
		t.Fatalf("outcomes of the final event types %q, metrics.DecisionOutcomes %q: keep them the same", final, listed)
	}
}
