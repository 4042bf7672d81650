package approval_test

import (
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The hosted service's GitHub Actions guide, through GraphQL: the job
// creates an approval with Deploy/Cancel actions for half an hour, prints
// the URL, a person opens it and deploys, the job reads the key.
func TestGitHubActionsFlow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		path := "deploy/ottr-backend/8231"
		c := e.create(map[string]any{
			"keyPath":    path,
			"ttlSeconds": 1800,
			"info":       "Deploy commit 3f2a1c to production?",
			"actions": []map[string]any{
				{"key": "approve", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
				{"key": "reject", "value": "rejected", "label": "Cancel", "style": "DANGER"},
			},
		})
		token, ok := strings.CutPrefix(c.URL, e.srv.URL+"/a/")
		if !ok || token != c.Token {
			t.Fatalf("url %q does not carry the token", c.URL)
		}

		// The job polls: nothing decided yet.
		if kv := e.key(path); kv.Value != nil || kv.PendingApproval == nil {
			t.Fatalf("key before the decision: %+v", kv)
		}

		l := open(t, e.anon, token)
		if len(l.Actions) != 2 || l.Actions[0].Label != "Deploy" || l.Actions[1].Label != "Cancel" || l.PinRequired {
			t.Fatalf("link: %+v", l)
		}
		if got := execute(t, e.anon, token, l.Nonce, "approve", nil); got.Status != "EXECUTED" || got.Action.Value != "approved" {
			t.Fatalf("execution: %+v", got)
		}

		var out struct {
			Project struct{ Key struct{ Value *string } }
		}
		e.write.MustDo(`query($p: ID!, $k: String!) { project(id: $p) { key(path: $k) { value } } }`,
			map[string]any{"p": e.pid, "k": path}, &out)
		if v := out.Project.Key.Value; v == nil || *v != "approved" {
			t.Fatalf("the job reads %v, want approved", v)
		}
	})
}
