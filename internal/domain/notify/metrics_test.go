package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// /metrics counts deliveries by outcome, as the fake Slack answers them.
func TestMetricsCountDeliveriesByOutcome(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		ok, okURL := e.channel("ok", "APPROVAL_CREATED")
		retried, retriedURL := e.channel("retried", "APPROVAL_CREATED")
		dead, deadURL := e.channel("dead", "APPROVAL_CREATED")
		e.fake.RespondTo(okURL, slacktest.OK())
		e.fake.RespondTo(retriedURL, slacktest.ServerError(), slacktest.OK())
		e.fake.RespondTo(deadURL, slacktest.Status(http.StatusNotFound, "no_service"))
		e.record(event.ApprovalCreated, "deploy")
		for _, ch := range []string{ok, retried, dead} {
			e.settled(ch, 1, 15*time.Second)
		}
		resp, err := http.Get(e.srv.URL + "/metrics")
		storetest.Must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for outcome, n := range map[string]int{"delivered": 2, "retrying": 1, "failed": 1, "skipped": 0} {
			line := fmt.Sprintf(`ottr_slack_deliveries_total{outcome=%q} %d`, outcome, n)
			if !strings.Contains(string(body), line+"\n") {
				t.Errorf("metrics lack %s", line)
			}
		}
		if !strings.Contains(string(body), `ottr_queue_jobs{state="running"} `) {
			t.Error("metrics lack the queue's running jobs")
		}
	})
}
