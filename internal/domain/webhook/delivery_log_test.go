package webhook_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// gqlClient is what the tests below ask through: a user or a key.
type gqlClient interface {
	MustDo(string, map[string]any, any)
}

// WebhookDelivery and CallbackDelivery are nodes: node(id:) and
// nodes(ids:) find them for whoever may read their parents (the endpoint;
// the approval with the project's settings), not for READ keys
// (FORBIDDEN, as their parents), and not for another tenant, to whom they
// are null as an unknown id is and whose mutations on them answer
// NOT_FOUND.
func TestWebhookAndCallbackDeliveriesAreNodesOfTheirTenantOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		rcv := newReceiver(t)
		e := newEnv(t, d, rcv)
		ep, _ := e.add(t, "node", "APPROVAL_CREATED")
		e.rotateCallbackSecret(t, 0)
		approvalID, _ := e.createWithCallback(t, "app/node", rcv.URL+"/cb/node")
		rcv.wait(t, 2, 20*time.Second)
		webhookID := e.settled(t, ep.ID, 1)[0].ID
		callbackID := e.callbackDeliveries(t, approvalID, 1)[0].ID

		const query = `query($id: ID!) { node(id: $id) { __typename id
			... on DeliveryLogEntry { kind channelId status event { type } }
			... on WebhookDelivery { endpointId }
			... on CallbackDelivery { approvalId } } }`
		type nodeOut struct {
			Node *struct {
				Typename               string `json:"__typename"`
				ID, Kind, ChannelID    string
				Status                 string
				EndpointID, ApprovalID string
				Event                  struct{ Type string }
			}
		}
		_, writeKey := e.owner.CreateAPIKey(e.pid, "WRITE")
		for who, c := range map[string]gqlClient{"owner": e.owner, "write key": e.srv.Client(writeKey)} {
			var w, cb nodeOut
			c.MustDo(query, map[string]any{"id": webhookID}, &w)
			if n := w.Node; n == nil || n.Typename != "WebhookDelivery" || n.ID != webhookID || n.Kind != "WEBHOOK" || n.ChannelID != ep.ID ||
				n.EndpointID != ep.ID || n.Status != "DELIVERED" || n.Event.Type != "APPROVAL_CREATED" {
				t.Errorf("webhook delivery node for the %s: %+v", who, n)
			}
			c.MustDo(query, map[string]any{"id": callbackID}, &cb)
			if n := cb.Node; n == nil || n.Typename != "CallbackDelivery" || n.ID != callbackID || n.Kind != "CALLBACK" || n.ChannelID != approvalID ||
				n.ApprovalID != approvalID || n.Status != "DELIVERED" || n.Event.Type != "APPROVAL_CREATED" {
				t.Errorf("callback delivery node for the %s: %+v", who, n)
			}
		}
		var many struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
		e.owner.MustDo(`query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`,
			map[string]any{"ids": []string{callbackID, webhookID, "0190c0de-0000-7000-8000-000000000000"}}, &many)
		if len(many.Nodes) != 3 || many.Nodes[0] == nil || many.Nodes[0].Typename != "CallbackDelivery" || many.Nodes[0].ID != callbackID ||
			many.Nodes[1] == nil || many.Nodes[1].Typename != "WebhookDelivery" || many.Nodes[1].ID != webhookID || many.Nodes[2] != nil {
			t.Errorf("nodes: %+v", many.Nodes)
		}

		// A READ key reads values, not how the project is wired.
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		for _, id := range []string{webhookID, callbackID} {
			if err := e.srv.Client(readKey).ErrorCode(query, map[string]any{"id": id}); err.Code() != "FORBIDDEN" {
				t.Errorf("node %s for a READ key: %s %q, want FORBIDDEN", id, err.Code(), err.Message)
			}
		}

		stranger := e.srv.SignUp("Mallory")
		strangerProject := stranger.CreateProject("Mallory's")
		_, strangerKey := stranger.CreateAPIKey(strangerProject, "WRITE")
		strangerClient := e.srv.Client(strangerKey)
		for who, c := range map[string]gqlClient{"another user": stranger, "another project's key": strangerClient} {
			for _, id := range []string{webhookID, callbackID} {
				var theirs nodeOut
				c.MustDo(query, map[string]any{"id": id}, &theirs)
				if theirs.Node != nil {
					t.Errorf("node %s for %s: %+v, want null", id, who, theirs.Node)
				}
			}
		}
		for _, tc := range []struct{ mutation, id string }{
			{`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }`, webhookID},
			{`mutation($id: ID!) { redeliverCallback(deliveryId: $id) { id } }`, callbackID},
		} {
			if err := strangerClient.ErrorCode(tc.mutation, map[string]any{"id": tc.id}); err.Code() != "NOT_FOUND" {
				t.Errorf("%s by another tenant: %s %q, want NOT_FOUND", tc.mutation, err.Code(), err.Message)
			}
		}
		// Invalid ids are refused, not looked up.
		if err := e.owner.ErrorCode(query, map[string]any{"id": "bad\x00id"}); err.Code() != "BAD_USER_INPUT" {
			t.Errorf("node with NUL: %s %q, want BAD_USER_INPUT", err.Code(), err.Message)
		}
	})
}

// logEntry is an entry of Project.deliveryLog.
type logEntry struct {
	Typename  string `json:"__typename"`
	ID, Kind  string
	ChannelID string
	Status    string
	Event     struct{ Type string }
}

type logPage struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
	Edges []struct {
		Cursor string
		Node   logEntry
	}
	Nodes []logEntry
}

const logQuery = `query($p: ID!, $f: DeliveryLogFilter, $first: Int, $after: String) { project(id: $p) {
	deliveryLog(filter: $f, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
		edges { cursor node { __typename id kind channelId status event { type } } } nodes { id } } } }`

func (e *env) deliveryLog(t *testing.T, c gqlClient, filter map[string]any, first int, after *string) logPage {
	t.Helper()
	var out struct{ Project struct{ DeliveryLog logPage } }
	vars := map[string]any{"p": e.pid, "first": first, "after": after}
	if filter != nil {
		vars["f"] = filter
	}
	c.MustDo(logQuery, vars, &out)
	return out.Project.DeliveryLog
}

// Project.deliveryLog lists the deliveries of every kind (Slack channel,
// webhook endpoint, approval callback) in one list, newest first, with
// the kind and the channel of each, filtered by kinds, status and
// channel, paged by cursor; Project.deliveries stays Slack only.
func TestProjectDeliveryLogListsEveryKind(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		rcv := newReceiver(t)
		e := newEnv(t, d, rcv, func(c *config.Config) { c.SlackWebhookPrefixes = []string{rcv.URL + "/slack/"} })
		var slackOut struct{ AddSlackChannel struct{ ID string } }
		e.owner.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "ops", "webhookUrl": rcv.URL + "/slack/services/T000/B000/XXXX", "events": []string{"APPROVAL_CREATED"}}},
			&slackOut)
		slackID := slackOut.AddSlackChannel.ID
		ep, _ := e.add(t, "log", "APPROVAL_CREATED")
		e.rotateCallbackSecret(t, 0)
		approvalID, _ := e.createWithCallback(t, "app/log", rcv.URL+"/cb/log")
		rcv.wait(t, 3, 20*time.Second)

		var all logPage
		deadline := time.Now().Add(30 * time.Second)
		for {
			all = e.deliveryLog(t, e.owner, nil, 10, nil)
			if all.TotalCount == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery log has not every kind: %+v", all)
			}
			time.Sleep(50 * time.Millisecond)
		}
		want := map[string]struct{ typename, channel string }{
			"SLACK": {"Delivery", slackID}, "WEBHOOK": {"WebhookDelivery", ep.ID}, "CALLBACK": {"CallbackDelivery", approvalID},
		}
		var ids []string
		for i, edge := range all.Edges {
			n := edge.Node
			w, ok := want[n.Kind]
			if !ok || n.Typename != w.typename || n.ChannelID != w.channel || n.Event.Type != "APPROVAL_CREATED" || all.Nodes[i].ID != n.ID {
				t.Errorf("entry %d: %+v", i, n)
			}
			delete(want, n.Kind)
			ids = append(ids, n.ID)
		}
		if len(want) != 0 || all.PageInfo.HasNextPage {
			t.Errorf("kinds missing from the log: %v; hasNextPage %v", want, all.PageInfo.HasNextPage)
		}
		if !slices.IsSortedFunc(ids, func(a, b string) int { return -compareText(a, b) }) {
			t.Errorf("log not newest first: %v", ids)
		}

		// Filters.
		for _, tc := range []struct {
			filter map[string]any
			want   []string // kinds
		}{
			{map[string]any{"kinds": []string{"WEBHOOK", "CALLBACK"}}, []string{"WEBHOOK", "CALLBACK"}},
			{map[string]any{"kinds": []string{"SLACK"}}, []string{"SLACK"}},
			{map[string]any{"channelId": ep.ID}, []string{"WEBHOOK"}},
			{map[string]any{"channelId": approvalID, "kinds": []string{"CALLBACK", "SLACK"}}, []string{"CALLBACK"}},
			{map[string]any{"channelId": approvalID, "kinds": []string{"SLACK"}}, nil},
			{map[string]any{"status": "SKIPPED"}, nil},
		} {
			got := e.deliveryLog(t, e.owner, tc.filter, 10, nil)
			var kinds []string
			for _, edge := range got.Edges {
				kinds = append(kinds, edge.Node.Kind)
			}
			slices.Sort(kinds)
			wantKinds := slices.Clone(tc.want)
			slices.Sort(wantKinds)
			if !slices.Equal(kinds, wantKinds) || got.TotalCount != len(tc.want) {
				t.Errorf("filter %v: kinds %v (total %d), want %v", tc.filter, kinds, got.TotalCount, wantKinds)
			}
		}

		// Pages: one at a time, in the same order as the whole list.
		var paged []string
		var after *string
		for range 4 {
			p := e.deliveryLog(t, e.owner, nil, 1, after)
			for _, edge := range p.Edges {
				paged = append(paged, edge.Node.ID)
			}
			if !p.PageInfo.HasNextPage {
				break
			}
			after = p.PageInfo.EndCursor
		}
		if !slices.Equal(paged, ids) {
			t.Errorf("paged %v, want %v", paged, ids)
		}

		// Project.deliveries keeps listing the Slack ones only.
		var slackOnly struct {
			Project struct{ Deliveries struct{ TotalCount int } }
		}
		e.owner.MustDo(`query($p: ID!) { project(id: $p) { deliveries { totalCount } } }`, map[string]any{"p": e.pid}, &slackOnly)
		if slackOnly.Project.Deliveries.TotalCount != 1 {
			t.Errorf("Project.deliveries total %d, want the Slack one", slackOnly.Project.Deliveries.TotalCount)
		}

		// A WRITE key reads the log; a READ key does not.
		_, writeKey := e.owner.CreateAPIKey(e.pid, "WRITE")
		if got := e.deliveryLog(t, e.srv.Client(writeKey), nil, 10, nil); got.TotalCount != 3 {
			t.Errorf("log for a WRITE key: total %d", got.TotalCount)
		}
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		if err := e.srv.Client(readKey).ErrorCode(logQuery, map[string]any{"p": e.pid, "first": 10}); err.Code() != "FORBIDDEN" {
			t.Errorf("log for a READ key: %s %q, want FORBIDDEN", err.Code(), err.Message)
		}

		// Bad input.
		for _, f := range []map[string]any{
			{"kinds": []string{}},
			{"channelId": "ep\x00"},
		} {
			if err := e.owner.ErrorCode(logQuery, map[string]any{"p": e.pid, "f": f, "first": 10}); err.Code() != "BAD_USER_INPUT" {
				t.Errorf("filter %q: %s %q, want BAD_USER_INPUT", f, err.Code(), err.Message)
			}
		}
		if err := e.owner.ErrorCode(logQuery, map[string]any{"p": e.pid, "first": 101}); err.Code() != "BAD_USER_INPUT" {
			t.Errorf("first 101: %s %q, want BAD_USER_INPUT", err.Code(), err.Message)
		}
		if err := e.owner.ErrorCode(logQuery, map[string]any{"p": e.pid, "first": 10, "after": "not-a-cursor"}); err.Code() != "BAD_USER_INPUT" {
			t.Errorf("unknown cursor: %s %q, want BAD_USER_INPUT", err.Code(), err.Message)
		}
	})
}

func compareText(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
