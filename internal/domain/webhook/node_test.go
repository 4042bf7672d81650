package webhook_test

import (
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// node(id) and nodes(ids) resolve a webhook endpoint for its project's
// members and keys only: to another tenant it is null, as an unknown id.
func TestWebhookEndpointIsANodeOfItsTenantOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, newReceiver(t))
		ep, _ := e.add(t, "node", "APPROVAL_CREATED")
		const query = `query($id: ID!) { node(id: $id) { __typename id ... on WebhookEndpoint { name urlMasked } } }`
		type nodeOut struct {
			Node *struct {
				Typename  string `json:"__typename"`
				ID, Name  string
				URLMasked string
			}
		}
		// A READ key reads values, not how the project is wired.
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		if err := e.srv.Client(readKey).ErrorCode(query, map[string]any{"id": ep.ID}); err.Code() != "FORBIDDEN" {
			t.Errorf("node for a READ key: %s %q, want FORBIDDEN", err.Code(), err.Message)
		}
		_, writeKey := e.owner.CreateAPIKey(e.pid, "WRITE")
		for who, c := range map[string]interface {
			MustDo(string, map[string]any, any)
		}{"owner": e.owner, "write key": e.srv.Client(writeKey)} {
			var mine nodeOut
			c.MustDo(query, map[string]any{"id": ep.ID}, &mine)
			if mine.Node == nil || mine.Node.Typename != "WebhookEndpoint" || mine.Node.ID != ep.ID || mine.Node.Name != "node" ||
				mine.Node.URLMasked != e.rcv.URL+"/••••" {
				t.Errorf("node for the %s: %+v", who, mine.Node)
			}
		}
		stranger := e.srv.SignUp("Mallory")
		strangerProject := stranger.CreateProject("Mallory's")
		_, strangerKey := stranger.CreateAPIKey(strangerProject, "WRITE")
		for who, c := range map[string]interface {
			MustDo(string, map[string]any, any)
		}{"another user": stranger, "another project's key": e.srv.Client(strangerKey)} {
			var theirs nodeOut
			c.MustDo(query, map[string]any{"id": ep.ID}, &theirs)
			if theirs.Node != nil {
				t.Errorf("node for %s: %+v, want null", who, theirs.Node)
			}
		}
		var many struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
		e.owner.MustDo(`query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`,
			map[string]any{"ids": []string{ep.ID, "01890000-0000-7000-8000-000000000000"}}, &many)
		if len(many.Nodes) != 2 || many.Nodes[0] == nil || many.Nodes[0].Typename != "WebhookEndpoint" || many.Nodes[1] != nil {
			t.Errorf("nodes: %+v", many.Nodes)
		}
	})
}
