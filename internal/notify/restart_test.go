package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/config"
	"github.com/ottr/backend/internal/slack/slacktest"
	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
	"github.com/ottr/backend/internal/testserver"
)

// A delivery in flight when the server dies is made after it starts again;
// nothing else is sent twice.
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
		if got[0].Event.KeyPath != "in-flight" || got[0].Status != "DELIVERED" || got[1].Status != "DELIVERED" || got[1].Attempts != 1 {
			t.Errorf("deliveries %+v", got)
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
		if !strings.Contains(second.Logs.String(), "JobRescuer: Ran successfully") {
			t.Errorf("no stuck job was rescued")
		}
	})
}
