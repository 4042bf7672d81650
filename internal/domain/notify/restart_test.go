package notify_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A delivery in flight when the server dies is made after it starts again,
// and its unfinished attempt is recorded as of unknown outcome; nothing
// else is sent twice.
func TestDeliveryInFlightSurvivesACrash(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		cfg := testserver.Config(t, d)
		first := testserver.StartWith(t, cfg, fast(fake), func(c *config.Config) { c.Delivery.HTTPTimeout = time.Minute })
		owner := first.SignUp("Owner")
		e := &env{t: t, srv: first, fake: fake, owner: owner, pid: owner.CreateProject("My Project")}
		id, url := e.channel("ops", "APPROVAL_CREATED")

		e.createApproval(map[string]any{"keyPath": "before", "value": "x"})
		e.settled(id, 1, 20*time.Second)
		fake.RespondTo(url, slacktest.Hang(), slacktest.OK())
		e.createApproval(map[string]any{"keyPath": "in-flight", "value": "x"})
		if _, err := fake.Wait(2, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		first.Crash()

		second := testserver.StartWith(t, cfg, fast(fake), func(c *config.Config) { c.Delivery.RescueStuckJobsAfter = time.Second })
		e.srv, e.owner.Client = second, second.Client(owner.AccessToken)
		got := e.settled(id, 2, 90*time.Second)
		if got[0].Event.KeyPath != "in-flight" || got[0].Status != "DELIVERED" || got[0].Attempts != 2 || got[0].UnknownOutcomeAttempts != 1 ||
			got[1].Status != "DELIVERED" || got[1].Attempts != 1 || got[1].UnknownOutcomeAttempts != 0 {
			t.Errorf("deliveries %+v", got)
		}
		if a := e.attempts(got[0].ID); len(a) != 2 || a[0].Outcome != "unknown" || a[0].StatusCode != nil || a[0].Error == nil || a[1].Outcome != "delivered" {
			t.Errorf("attempts of the delivery in flight %+v", a)
		}
		texts := texts(fake, url)
		if len(texts) != 3 || !strings.Contains(texts[0], "Key: before\n") || texts[1] != texts[2] || !strings.Contains(texts[1], "Key: in-flight\n") {
			t.Errorf("fake Slack got %q", texts)
		}
		if jobs := e.finishedJobs(got[0].ID); len(jobs) != 1 || jobs[0].State != "completed" || jobs[0].Attempt != 2 {
			t.Errorf("jobs %+v", jobs)
		}
		// The job was left running by the dead server and rescued. (The
		// first one may be rescued too if the crash came before River
		// recorded its end: it finds its delivery made and sends nothing.)
		if !strings.Contains(second.Logs.String(), "slack deliveries abandoned by a stopped server are sent again") {
			t.Errorf("no abandoned job was rescued")
		}
	})
}

// Shutdown lets a delivery in flight finish; one that outlasts the stop
// timeout is cancelled, recorded, and made after the next start.
func TestShutdownWaitsForDeliveriesInFlight(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		cfg := testserver.Config(t, d)
		slow := func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(500 * time.Millisecond)
			slacktest.OK()(w, r)
		}
		first := testserver.StartWith(t, cfg, fast(fake), func(c *config.Config) {
			c.Delivery.HTTPTimeout, c.Delivery.StopTimeout = time.Minute, 2*time.Second
		})
		owner := first.SignUp("Owner")
		e := &env{t: t, srv: first, fake: fake, owner: owner, pid: owner.CreateProject("My Project")}
		slowID, slowURL := e.channel("slow", "APPROVAL_CREATED")
		stuckID, stuckURL := e.channel("stuck", "APPROVAL_CREATED")
		fake.RespondTo(slowURL, slow)
		fake.RespondTo(stuckURL, slacktest.Hang(), slacktest.OK())
		e.createApproval(map[string]any{"keyPath": "k", "value": "x"})
		if _, err := fake.Wait(2, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		storetest.Must(t, first.App.Close())

		second := testserver.StartWith(t, cfg, fast(fake))
		e.srv, e.owner.Client = second, second.Client(owner.AccessToken)
		if del := e.settled(slowID, 1, 20*time.Second)[0]; del.Status != "DELIVERED" || del.Attempts != 1 {
			t.Errorf("slow delivery %+v", del)
		}
		del := e.settled(stuckID, 1, 20*time.Second)[0]
		if del.Status != "DELIVERED" || del.Attempts != 2 {
			t.Errorf("stuck delivery %+v", del)
		}
		if a := e.attempts(del.ID); len(a) != 2 || a[0].Error == nil || !strings.Contains(*a[0].Error, "stop initiated") {
			t.Errorf("attempts of the stuck delivery %+v", a)
		}
		if n, m := len(fake.RequestsTo(slowURL)), len(fake.RequestsTo(stuckURL)); n != 1 || m != 2 {
			t.Errorf("fake Slack got %d and %d requests, want 1 and 2", n, m)
		}
	})
}
