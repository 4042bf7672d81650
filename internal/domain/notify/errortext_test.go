package notify_test

import (
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// A resolver that cannot be reached shows in a delivery's lastError, the
// channel's lastError and a test message's error as "could not resolve
// host hooks.slack.com": never the resolver's address or port.
func TestResolverFailureShowsNoAddress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.Resolver = slacktest.Unreachable() })
		const want = "could not resolve host hooks.slack.com"
		id := e.owner.AddSlackChannel(e.pid, "ops", "https://hooks.slack.com/services/T1/B1/Res0lverS3cret", "APPROVAL_EXPIRED")
		e.record(event.ApprovalExpired, "k")

		var st channelState
		eventually(t, 20*time.Second, func() bool {
			st = e.state(id)
			return st.LastError != nil && len(st.Deliveries.Edges) == 1 && st.Deliveries.Edges[0].Node.LastError != nil
		}, func() string { return "no failed attempt yet" })
		if got := *st.LastError; got != want {
			t.Errorf("channel lastError %q, want %q", got, want)
		}
		if got := *st.Deliveries.Edges[0].Node.LastError; got != want {
			t.Errorf("delivery lastError %q, want %q", got, want)
		}

		var out struct {
			TestSlackChannel struct {
				OK    bool
				Error *string
			}
		}
		e.owner.MustDo(`mutation($id: ID!) { testSlackChannel(id: $id) { ok error } }`, map[string]any{"id": id}, &out)
		if r := out.TestSlackChannel; r.OK || r.Error == nil || *r.Error != want {
			t.Errorf("testSlackChannel %+v, want error %q", r, want)
		}
		e.noSecret("https://hooks.slack.com/services/T1/B1/Res0lverS3cret")
	})
}
