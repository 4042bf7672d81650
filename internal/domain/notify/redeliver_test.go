package notify_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

const redeliver = `mutation($id: ID!) { redeliver(deliveryId: $id) { id channelId status attempts nextAttemptAt event { type keyPath } } }`

func (e *env) redeliver(id string) delivery {
	e.t.Helper()
	var out struct{ Redeliver delivery }
	e.owner.MustDo(redeliver, map[string]any{"id": id}, &out)
	return out.Redeliver
}

func TestRedeliver(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_EXPIRED", "APPROVAL_INVALIDATED", "TOKEN_LOCKED")

		// A delivered message is sent again.
		e.record(event.ApprovalExpired, "delivered")
		del := e.settled(id, 1, 20*time.Second)[0]
		again := e.redeliver(del.ID)
		if again.ID != del.ID || again.Status != "PENDING" || again.NextAttemptAt != nil || again.Event.Type != "APPROVAL_EXPIRED" || again.Event.KeyPath != "delivered" {
			t.Errorf("redeliver answered %+v", again)
		}
		del = e.settled(id, 1, 20*time.Second)[0]
		if del.Status != "DELIVERED" || del.Attempts != 2 {
			t.Errorf("redelivered %+v", del)
		}
		if got := texts(e.fake, url); len(got) != 2 || got[0] != got[1] {
			t.Errorf("fake Slack got %q", got)
		}
		if jobs := e.finishedJobs(del.ID); len(jobs) != 2 {
			t.Errorf("jobs %+v", jobs)
		}

		// A failed one is sent again once the problem is fixed.
		e.fake.RespondTo(url, slacktest.Status(400, "invalid_payload"), slacktest.OK())
		e.record(event.ApprovalInvalidated, "failed")
		failed := e.settled(id, 2, 20*time.Second)[0]
		if failed.Status != "FAILED" {
			t.Fatalf("delivery %+v", failed)
		}
		e.redeliver(failed.ID)
		if got := e.settled(id, 2, 20*time.Second)[0]; got.ID != failed.ID || got.Status != "DELIVERED" || got.Attempts != 2 {
			t.Errorf("redelivered %+v", got)
		}

		// One waiting for its next attempt is sent now, in place of its
		// waiting job.
		e.fake.RespondTo(url, slacktest.RateLimited(0), slacktest.OK())
		e.record(event.TokenLocked, "waiting")
		var waiting delivery
		eventually(t, 20*time.Second, func() bool {
			waiting = e.deliveries(id)[0]
			return waiting.Status == "RETRYING"
		}, func() string { return fmt.Sprintf("%+v", waiting) })
		e.redeliver(waiting.ID)
		if got := e.settled(id, 3, 20*time.Second)[0]; got.ID != waiting.ID || got.Status != "DELIVERED" || got.Attempts != 2 {
			t.Errorf("redelivered %+v", got)
		}
		jobs := e.finishedJobs(waiting.ID)
		slices.SortFunc(jobs, func(a, b job) int { return strings.Compare(a.State, b.State) })
		if len(jobs) != 2 || jobs[0].State != "cancelled" || jobs[1].State != "completed" {
			t.Errorf("jobs %+v", jobs)
		}
		if n := len(e.fake.RequestsTo(url)); n != 6 {
			t.Errorf("fake Slack got %d requests, want 6", n)
		}

		// Only those who manage the channel may, and only their own.
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		if err := e.srv.Client(readKey).ErrorCode(redeliver, map[string]any{"id": del.ID}); err.Code() != "FORBIDDEN" {
			t.Errorf("READ key: %s", err.Code())
		}
		for _, id := range []string{del.ID, store.NewID()} {
			if err := e.srv.SignUp("Stranger").ErrorCode(redeliver, map[string]any{"id": id}); err.Code() != "NOT_FOUND" {
				t.Errorf("stranger: %s", err.Code())
			}
		}
	})
}

// Slack fails for a while, then recovers: every message arrives once.
func TestOutageLosesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.RetryBase = 50 * time.Millisecond })
		a, aURL := e.channel("a", "APPROVAL_CREATED")
		b, bURL := e.channel("b", "APPROVAL_CREATED")
		recovery := time.Now().Add(1500 * time.Millisecond)
		outage := func(w http.ResponseWriter, r *http.Request) {
			if time.Now().Before(recovery) {
				slacktest.ServerError()(w, r)
				return
			}
			slacktest.OK()(w, r)
		}
		e.fake.RespondTo(aURL, outage)
		e.fake.RespondTo(bURL, outage)
		const events = 10
		for i := range events {
			e.createApproval(map[string]any{"keyPath": fmt.Sprintf("k%d", i), "value": "x"})
			time.Sleep(100 * time.Millisecond)
		}
		for _, ch := range []string{a, b} {
			for _, del := range e.settled(ch, events, 60*time.Second) {
				if del.Status != "DELIVERED" {
					t.Errorf("delivery %+v", del)
				}
				ok := 0
				for _, at := range e.attempts(del.ID) {
					if at.StatusCode != nil && *at.StatusCode == 200 {
						ok++
					}
				}
				if ok != 1 {
					t.Errorf("delivery %s accepted %d times", del.ID, ok)
				}
			}
		}
		for _, url := range []string{aURL, bURL} {
			seen := map[string]bool{}
			for _, r := range e.fake.RequestsTo(url) {
				seen[r.Text()] = true
			}
			if len(seen) != events {
				t.Errorf("%d distinct messages arrived, want %d", len(seen), events)
			}
		}
	})
}
