package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// /metrics counts approvals created and decided (by outcome, with how
// long deciding took) and deliveries by channel kind, each event once: a
// webhook endpoint's as webhook deliveries, not as Slack's.
func TestBusinessMetrics(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		cfg := testserver.Config(t, d)
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		t.Cleanup(receiver.Close)
		cfg.SlackWebhookPrefixes = append(cfg.SlackWebhookPrefixes, fake.Prefix())
		cfg.WebhookAllowedPrefixes = []string{receiver.URL + "/"}
		srv := testserver.StartWith(t, cfg)
		owner := srv.SignUp("Olga")
		pid := owner.CreateProject("P")
		owner.AddSlackChannel(pid, "ops", fake.WebhookURL("T1", "B1", "S3cret"), "APPROVAL_CREATED")
		owner.MustDo(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { secret } }`,
			map[string]any{"p": pid, "i": map[string]any{"name": "hooks", "url": receiver.URL + "/hooks", "events": []string{"APPROVAL_CREATED"}}}, nil)
		create := func(path string) (id, url string) {
			var out struct {
				CreateApproval struct {
					URL      string
					Approval struct{ ID string }
				}
			}
			owner.MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "go"}) { url approval { id } } }`,
				map[string]any{"p": pid, "k": path}, &out)
			return out.CreateApproval.Approval.ID, out.CreateApproval.URL
		}
		_, link := create("a")
		withdrawn, _ := create("b")
		create("c")
		if status, err := srv.ExecuteLink(link, "approve", ""); err != nil || status != http.StatusOK {
			t.Fatalf("execute: %d %v", status, err)
		}
		owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id) { id } }`, map[string]any{"id": withdrawn}, nil)
		if _, err := fake.Wait(3, 30*time.Second); err != nil {
			t.Fatalf("the three APPROVAL_CREATED messages: %v", err)
		}

		want := []string{
			"ottr_approvals_created_total 3",
			`ottr_approvals_decided_total{outcome="executed"} 1`,
			`ottr_approvals_decided_total{outcome="invalidated"} 1`,
			`ottr_approvals_decided_total{outcome="expired"} 0`,
			`ottr_approval_decision_seconds_count{outcome="executed"} 1`,
			`ottr_deliveries_total{kind="slack",outcome="delivered"} 3`,
			`ottr_deliveries_total{kind="webhook",outcome="delivered"} 3`,
			`ottr_slack_deliveries_total{outcome="delivered"} 3`,
		}
		// The delivery is counted once its answer is recorded, just after
		// Slack has it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, body := get(t, srv, "/metrics")
			var missing []string
			for _, w := range want {
				if !strings.Contains(body, w) {
					missing = append(missing, w)
				}
			}
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics lack %q", missing)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
