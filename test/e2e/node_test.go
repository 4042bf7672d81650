package e2e_test

import (
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// node(id:) fetches every kind of object by its id alone, for its own
// tenant only: to anyone else it is null, like an id that names nothing.
func TestNodeFetchesEveryTypeForItsTenantOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newConnFixture(t, d)
		f.waitForDeliveries(t, connItems*connItems)
		var out struct {
			Project struct {
				ID                string
				MembersConnection struct {
					Edges []struct{ Node struct{ ID string } }
				}
				APIKeysConnection struct {
					Edges []struct{ Node struct{ ID string } }
				} `json:"apiKeysConnection"`
				SlackChannelsConnection struct {
					Edges []struct{ Node struct{ ID string } }
				}
				Approvals struct {
					Edges []struct{ Node struct{ ID string } }
				}
				Keys struct {
					Edges []struct{ Node struct{ ID string } }
				}
				Events struct {
					Edges []struct{ Node struct{ ID string } }
				}
				Deliveries struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
		}
		f.owner.MustDo(`query($p: ID!) { project(id: $p) { id
			membersConnection(first: 1) { edges { node { id } } }
			apiKeysConnection(first: 1) { edges { node { id } } }
			slackChannelsConnection(first: 1) { edges { node { id } } }
			approvals(first: 1) { edges { node { id } } }
			keys(first: 1) { edges { node { id } } }
			events(first: 1) { edges { node { id } } }
			deliveries(first: 1) { edges { node { id } } } } }`, map[string]any{"p": f.pid}, &out)
		p := out.Project
		ids := map[string]string{
			"Project":       p.ID,
			"ProjectMember": p.MembersConnection.Edges[0].Node.ID,
			"ApiKey":        p.APIKeysConnection.Edges[0].Node.ID,
			"SlackChannel":  p.SlackChannelsConnection.Edges[0].Node.ID,
			"Approval":      p.Approvals.Edges[0].Node.ID,
			"KeyValue":      p.Keys.Edges[0].Node.ID,
			"Event":         p.Events.Edges[0].Node.ID,
			"Delivery":      p.Deliveries.Edges[0].Node.ID,
		}
		stranger := f.srv.SignUp("Mallory")
		stranger.CreateProject("Mallory's")
		const nodeQuery = `query($id: ID!) { node(id: $id) { __typename id } }`
		type nodeOut struct {
			Node *struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
		for typ, id := range ids {
			var mine nodeOut
			f.owner.MustDo(nodeQuery, map[string]any{"id": id}, &mine)
			if mine.Node == nil || mine.Node.Typename != typ || mine.Node.ID != id {
				t.Errorf("node(%s) for its owner: %+v, want a %s", id, mine.Node, typ)
			}
			var theirs nodeOut
			stranger.MustDo(nodeQuery, map[string]any{"id": id}, &theirs)
			if theirs.Node != nil {
				t.Errorf("node(%s) of type %s for another tenant: %+v, want null", id, typ, theirs.Node)
			}
		}

		var many struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
		unknown := "01890000-0000-7000-8000-000000000000"
		f.owner.MustDo(`query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`,
			map[string]any{"ids": []string{ids["Event"], unknown, ids["Approval"], "key:nope", "12345678901"}}, &many)
		if len(many.Nodes) != 5 || many.Nodes[0] == nil || many.Nodes[0].ID != ids["Event"] || many.Nodes[1] != nil ||
			many.Nodes[2] == nil || many.Nodes[2].ID != ids["Approval"] || many.Nodes[3] != nil || many.Nodes[4] != nil {
			t.Errorf("nodes: %+v", many.Nodes)
		}
	})
}

// The V2 remove mutations answer the removed object's id, which then
// names nothing; another tenant can remove nothing.
func TestRemovePayloadsNameTheRemovedObject(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := newConnFixture(t, d)
		owner := srv.owner
		pid := owner.CreateProject("Doomed")
		member := srv.srv.SignUp("Leaving")
		owner.AddMember(pid, member.Email, "MEMBER")
		channel := owner.AddSlackChannel(pid, "gone", srv.fake.WebhookURL("T1", "B7", "S3cret"), "APPROVAL_CREATED")
		stranger := srv.srv.SignUp("Mallory")

		if e := stranger.ErrorCode(`mutation($id: ID!) { removeSlackChannelV2(id: $id) { removedChannelId } }`, map[string]any{"id": channel}); e.Code() != "NOT_FOUND" {
			t.Errorf("another tenant's removeSlackChannelV2: %s", e.Code())
		}
		var removed struct {
			RemoveSlackChannelV2 struct{ RemovedChannelID string } `json:"removeSlackChannelV2"`
		}
		owner.MustDo(`mutation($id: ID!) { removeSlackChannelV2(id: $id) { removedChannelId } }`, map[string]any{"id": channel}, &removed)
		if removed.RemoveSlackChannelV2.RemovedChannelID != channel {
			t.Errorf("removeSlackChannelV2: %+v", removed)
		}
		var gone struct{ Node *struct{ ID string } }
		owner.MustDo(`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": channel}, &gone)
		if gone.Node != nil {
			t.Errorf("the removed channel is still a node: %+v", gone.Node)
		}

		var left struct {
			RemoveProjectMemberV2 struct{ RemovedMemberID, UserID string } `json:"removeProjectMemberV2"`
		}
		owner.MustDo(`mutation($p: ID!, $u: ID!) { removeProjectMemberV2(projectId: $p, userId: $u) { removedMemberId userId } }`,
			map[string]any{"p": pid, "u": member.ID}, &left)
		if left.RemoveProjectMemberV2.UserID != member.ID || left.RemoveProjectMemberV2.RemovedMemberID != "member:"+pid+":"+member.ID {
			t.Errorf("removeProjectMemberV2: %+v", left)
		}

		var deleted struct {
			DeleteProjectV2 struct{ DeletedProjectID string } `json:"deleteProjectV2"`
		}
		owner.MustDo(`mutation($id: ID!) { deleteProjectV2(id: $id) { deletedProjectId } }`, map[string]any{"id": pid}, &deleted)
		if deleted.DeleteProjectV2.DeletedProjectID != pid {
			t.Errorf("deleteProjectV2: %+v", deleted)
		}
		owner.MustDo(`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": pid}, &gone)
		if gone.Node != nil {
			t.Errorf("the deleted project is still a node: %+v", gone.Node)
		}
	})
}
