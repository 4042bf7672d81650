package e2e_test

import (
	"encoding/json"
	"testing"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestAddAndRemoveReturnTheParent checks what a normalised cache (Apollo,
// urql graphcache) needs to update itself without hand-written code: the
// results of adding and removing Slack channels, webhook endpoints and
// members reach the parent project and its connection's totalCount, and
// channels, endpoints and memberships point at their project.
func TestAddAndRemoveReturnTheParent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d, func(c *config.Config) { c.WebhookAllowedPrefixes = []string{"http://127.0.0.1:9/"} })
		alice := srv.SignUp("Alice")
		bob := srv.SignUp("Bob")
		pid := alice.CreateProject("Cache")

		type counted struct {
			ID                      string
			SlackChannelsConnection struct{ TotalCount int }
			WebhookEndpoints        struct{ TotalCount int }
			MembersConnection       struct{ TotalCount int }
		}
		const parent = `project { id slackChannelsConnection { totalCount } webhookEndpoints { totalCount } membersConnection { totalCount } }`
		check := func(what string, p *counted, channels, endpoints, members int) {
			t.Helper()
			if p == nil || p.ID != pid || p.SlackChannelsConnection.TotalCount != channels ||
				p.WebhookEndpoints.TotalCount != endpoints || p.MembersConnection.TotalCount != members {
				t.Fatalf("%s: project %+v, want %s with %d channels, %d endpoints, %d members", what, p, pid, channels, endpoints, members)
			}
		}

		var added struct {
			AddSlackChannel struct {
				ID      string
				Project counted
			}
		}
		alice.MustDo(`mutation($p: ID!) { addSlackChannel(projectId: $p, input: {name: "ops", webhookUrl: "https://hooks.slack.com/services/T0/B0/secret", events: [APPROVAL_EXECUTED]}) { id `+parent+` } }`,
			map[string]any{"p": pid}, &added)
		check("addSlackChannel", &added.AddSlackChannel.Project, 1, 0, 1)
		var removed struct {
			RemoveSlackChannelV2 struct {
				RemovedChannelID string
				Project          *counted
			}
		}
		alice.MustDo(`mutation($id: ID!) { removeSlackChannelV2(id: $id) { removedChannelId `+parent+` } }`,
			map[string]any{"id": added.AddSlackChannel.ID}, &removed)
		if removed.RemoveSlackChannelV2.RemovedChannelID != added.AddSlackChannel.ID {
			t.Fatalf("removed %+v", removed)
		}
		check("removeSlackChannelV2", removed.RemoveSlackChannelV2.Project, 0, 0, 1)

		var endpoint struct {
			AddWebhookEndpoint struct {
				Endpoint struct {
					ID      string
					Project struct{ ID string }
				}
				Project counted
			}
		}
		alice.MustDo(`mutation($p: ID!) { addWebhookEndpoint(projectId: $p, input: {name: "e", url: "http://127.0.0.1:9/hook", events: [APPROVAL_EXECUTED]}) { endpoint { id project { id } } `+parent+` } }`,
			map[string]any{"p": pid}, &endpoint)
		check("addWebhookEndpoint", &endpoint.AddWebhookEndpoint.Project, 0, 1, 1)
		if endpoint.AddWebhookEndpoint.Endpoint.Project.ID != pid {
			t.Fatalf("WebhookEndpoint.project: %+v", endpoint)
		}
		var removedEndpoint struct{ RemoveWebhookEndpoint struct{ Project *counted } }
		alice.MustDo(`mutation($id: ID!) { removeWebhookEndpoint(id: $id) { removedEndpointId `+parent+` } }`,
			map[string]any{"id": endpoint.AddWebhookEndpoint.Endpoint.ID}, &removedEndpoint)
		check("removeWebhookEndpoint", removedEndpoint.RemoveWebhookEndpoint.Project, 0, 0, 1)

		var member struct {
			AddProjectMember struct {
				ID      string
				Project counted
			}
		}
		alice.MustDo(`mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: MEMBER) { id `+parent+` } }`,
			map[string]any{"p": pid, "e": bob.Email}, &member)
		check("addProjectMember", &member.AddProjectMember.Project, 0, 0, 2)
		var removedMember struct {
			RemoveProjectMemberV2 struct {
				RemovedMemberID string
				Project         *counted
			}
		}
		alice.MustDo(`mutation($p: ID!, $u: ID!) { removeProjectMemberV2(projectId: $p, userId: $u) { removedMemberId `+parent+` } }`,
			map[string]any{"p": pid, "u": bob.ID}, &removedMember)
		if removedMember.RemoveProjectMemberV2.RemovedMemberID != member.AddProjectMember.ID {
			t.Fatalf("removed membership %q, added %q", removedMember.RemoveProjectMemberV2.RemovedMemberID, member.AddProjectMember.ID)
		}
		check("removeProjectMemberV2", removedMember.RemoveProjectMemberV2.Project, 0, 0, 1)

		// Leaving: the project is no longer the caller's to see.
		alice.AddMember(pid, bob.Email, "MEMBER")
		resp := bob.Do(`mutation($p: ID!, $u: ID!) { removeProjectMemberV2(projectId: $p, userId: $u) { removedMemberId project { id } } }`,
			map[string]any{"p": pid, "u": bob.ID})
		if len(resp.Errors) > 0 || string(resp.Data) != `{"removeProjectMemberV2":{"removedMemberId":"`+member.AddProjectMember.ID+`","project":null}}` {
			t.Fatalf("leaving: %s %+v", resp.Data, resp.Errors)
		}
	})
}

// TestUserIsANode fetches users by id through node(id): a user sees
// themselves and the members of their projects, a WRITE key the members
// of its project; anyone else, and a READ key, gets null as for an id of
// nothing.
func TestUserIsANode(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice, bob, carol := srv.SignUp("Alice"), srv.SignUp("Bob"), srv.SignUp("Carol")
		pid := alice.CreateProject("People")
		alice.AddMember(pid, bob.Email, "VIEWER")
		_, write := alice.CreateAPIKey(pid, "WRITE")
		_, read := alice.CreateAPIKey(pid, "READ")

		node := func(c *testserver.Client, id string) string {
			t.Helper()
			var out struct{ Node json.RawMessage }
			c.MustDo(`query($id: ID!) { node(id: $id) { __typename id ... on User { email } } }`, map[string]any{"id": id}, &out)
			return string(out.Node)
		}
		user := func(u *testserver.User) string {
			return `{"__typename":"User","id":"` + u.ID + `","email":"` + u.Email + `"}`
		}
		for _, c := range []struct {
			name   string
			client *testserver.Client
			id     string
			want   string
		}{
			{"herself", alice.Client, alice.ID, user(alice)},
			{"a member of her project", alice.Client, bob.ID, user(bob)},
			{"the owner of his project", bob.Client, alice.ID, user(alice)},
			{"a user in no shared project", alice.Client, carol.ID, "null"},
			{"someone in no shared project", carol.Client, alice.ID, "null"},
			{"a WRITE key, a member", srv.Client(write), bob.ID, user(bob)},
			{"a WRITE key, a stranger", srv.Client(write), carol.ID, "null"},
			{"a READ key", srv.Client(read), bob.ID, "null"},
		} {
			if got := node(c.client, c.id); got != c.want {
				t.Errorf("%s: node = %s, want %s", c.name, got, c.want)
			}
		}
		var me struct{ Me struct{ ID string } }
		alice.MustDo(`{ me { ... on Node { id } } }`, nil, &me)
		if me.Me.ID != alice.ID {
			t.Fatalf("me as a Node: %+v", me)
		}
	})
}
