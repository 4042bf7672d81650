package e2e_test

import (
	"encoding/json"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// Each event of a subscription is rendered with loaders of its own: the
// approval an event points at reads as it is at that event, never as an
// earlier event of the same subscription loaded it.
func TestSubscriptionEventsLoadAfresh(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		owner := srv.SignUp("Sam")
		pid := owner.CreateProject("Live")
		ws := srv.Connect(testserver.TransportWS, owner.AccessToken)
		// after "0" replays from the start: the first event reaches the
		// subscription even when it is recorded before the subscription
		// is registered.
		sub := ws.Subscribe(`subscription($p: ID!) { projectEvents(projectId: $p, after: "0") { type approval { id status } project { id } } }`, map[string]any{"p": pid})
		var created struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		owner.MustDo(`mutation($p: ID!) { createApproval(projectId: $p, input: {keyPath: "live/key", value: "y"}) { approval { id } } }`,
			map[string]any{"p": pid}, &created)
		id := created.CreateApproval.Approval.ID

		type ev struct {
			ProjectEvents struct {
				Type     string
				Approval struct{ ID, Status string }
				Project  struct{ ID string }
			}
		}
		want := []struct{ typ, status string }{{"APPROVAL_CREATED", "PENDING"}, {"APPROVAL_INVALIDATED", "INVALIDATED"}}
		for i, w := range want {
			if i == 1 {
				// The approval is read when its event is rendered: change it
				// only once the first event is out.
				owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id) { id } }`, map[string]any{"id": id}, nil)
			}
			r := sub.Next()
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %+v", r.Errors)
			}
			var got ev
			if err := json.Unmarshal(r.Data, &got); err != nil {
				t.Fatal(err)
			}
			e := got.ProjectEvents
			if e.Type != w.typ || e.Approval.ID != id || e.Approval.Status != w.status || e.Project.ID != pid {
				t.Errorf("got %+v, want %s with the approval %s", e, w.typ, w.status)
			}
		}
	})
}
