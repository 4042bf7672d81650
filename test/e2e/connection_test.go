package e2e_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// connFixture is a project with a few of everything a dashboard lists.
type connFixture struct {
	srv    *testserver.Server
	owner  *testserver.User
	pid    string
	script *testserver.Client // a WRITE key of the project
	fake   *slacktest.Server
}

const connItems = 5 // of each kind

func newConnFixture(t *testing.T, d store.Dialect) *connFixture {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	cfg := testserver.Config(t, d)
	cfg.SlackWebhookPrefixes = append(cfg.SlackWebhookPrefixes, fake.Prefix())
	srv := testserver.StartWith(t, cfg)
	f := &connFixture{srv: srv, owner: srv.SignUp("Dana"), fake: fake}
	f.pid = f.owner.CreateProject("Dashboard")
	for i := 1; i < connItems; i++ {
		f.owner.CreateProject(fmt.Sprintf("Other %d", i))
		f.owner.AddMember(f.pid, srv.SignUp(fmt.Sprintf("Member%d", i)).Email, []string{"ADMIN", "MEMBER", "VIEWER", "MEMBER"}[i-1])
		f.owner.CreateAPIKey(f.pid, "READ")
	}
	_, secret := f.owner.CreateAPIKey(f.pid, "WRITE")
	f.script = srv.Client(secret)
	for i := range connItems {
		f.script.AddSlackChannel(f.pid, fmt.Sprintf("ch-%d", i), fake.WebhookURL("T1", fmt.Sprintf("B%d", i), "S3cret"), "APPROVAL_CREATED")
	}
	for i := range connItems {
		f.createApproval(t, fmt.Sprintf("app/%d/deploy", i), fmt.Sprintf("ref-%d", i%2))
	}
	return f
}

func (f *connFixture) createApproval(t *testing.T, keyPath, refID string) string {
	t.Helper()
	var out struct {
		CreateApproval struct{ Approval struct{ ID string } }
	}
	f.script.MustDo(`mutation($p: ID!, $k: String!, $r: String) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes", initialValue: "no", refId: $r}) { approval { id } } }`,
		map[string]any{"p": f.pid, "k": keyPath, "r": refID}, &out)
	return out.CreateApproval.Approval.ID
}

// connPage is one page of any connection, as the tests read it.
type connPage struct {
	Edges []struct {
		Cursor string
		Node   struct{ ID string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount int
}

func (p connPage) ids() []string {
	out := make([]string, len(p.Edges))
	for i, e := range p.Edges {
		out[i] = e.Node.ID
	}
	return out
}

// list names a connection: the query with a CONN placeholder where the
// field goes, the field with its other arguments, and where its data is.
type list struct {
	name  string
	field string // e.g. `approvals(filter: {refId: "x"}` without the closing paren
	outer string // e.g. `project(id: $p) { CONN }`
	path  []string
	want  int
}

func (f *connFixture) fetch(t *testing.T, c *testserver.Client, l list, args map[string]any) connPage {
	t.Helper()
	var params, pass []string
	vars := map[string]any{"p": f.pid}
	for _, name := range []string{"first", "after", "last", "before"} {
		typ := "Int"
		if name == "after" || name == "before" {
			typ = "String"
		}
		params = append(params, fmt.Sprintf("$%s: %s", name, typ))
		pass = append(pass, fmt.Sprintf("%s: $%s", name, name))
		if v, ok := args[name]; ok {
			vars[name] = v
		}
	}
	field := l.field
	sep := ", "
	if !strings.HasSuffix(field, "(") {
		field += sep
	}
	conn := field + strings.Join(pass, ", ") + `) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }`
	pParam := "$p: ID!, "
	if !strings.Contains(l.outer, "$p") {
		pParam = ""
		delete(vars, "p")
	}
	query := fmt.Sprintf("query(%s%s) { %s }", pParam, strings.Join(params, ", "), strings.Replace(l.outer, "CONN", conn, 1))
	var data map[string]any
	c.MustDo(query, vars, &data)
	var at any = data
	for _, k := range l.path {
		at = at.(map[string]any)[k]
	}
	raw, _ := json.Marshal(at)
	var p connPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s: decode %s: %v", l.name, raw, err)
	}
	return p
}

func (f *connFixture) lists() []list {
	project := func(name, field string, want int) list {
		return list{name: name, field: field, outer: `project(id: $p) { CONN }`, path: []string{"project", strings.SplitN(field, "(", 2)[0]}, want: want}
	}
	return []list{
		{name: "projects", field: "projectsConnection(", outer: "CONN", path: []string{"projectsConnection"}, want: connItems},
		project("members", "membersConnection(", connItems),
		project("apiKeys", "apiKeysConnection(", connItems),
		project("slackChannels", "slackChannelsConnection(", connItems),
		project("approvals", "approvals(", connItems),
		project("approvals oldest", "approvals(sort: OLDEST", connItems),
		project("approvals expiring", "approvals(sort: EXPIRING_SOON", connItems),
		project("keys", "keys(", connItems),
		project("events", "events(", connItems),
		project("deliveries", "deliveries(", connItems*connItems),
	}
}

// Every list pages forward and backward over the same items in the same
// order, with the page info a client's cache needs to stitch pages.
func TestConnectionsPageBothWays(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newConnFixture(t, d)
		f.waitForDeliveries(t, connItems*connItems)
		for _, l := range f.lists() {
			t.Run(l.name, func(t *testing.T) {
				all := f.fetch(t, f.owner.Client, l, map[string]any{"first": 100})
				if len(all.Edges) != l.want || all.TotalCount != l.want || all.PageInfo.HasNextPage || all.PageInfo.HasPreviousPage {
					t.Fatalf("whole list: %d edges, totalCount %d, pageInfo %+v; want %d", len(all.Edges), all.TotalCount, all.PageInfo, l.want)
				}
				want := all.ids()
				const size = 2

				var forward []string
				args := map[string]any{"first": size}
				for pages := 0; ; pages++ {
					p := f.fetch(t, f.owner.Client, l, args)
					forward = append(forward, p.ids()...)
					if p.PageInfo.HasPreviousPage != (pages > 0) || p.TotalCount != l.want {
						t.Fatalf("forward page %d: pageInfo %+v, totalCount %d", pages, p.PageInfo, p.TotalCount)
					}
					if *p.PageInfo.StartCursor != p.Edges[0].Cursor || *p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor {
						t.Fatalf("forward page %d: start/end cursors %+v do not match its edges", pages, p.PageInfo)
					}
					if !p.PageInfo.HasNextPage {
						break
					}
					args = map[string]any{"first": size, "after": *p.PageInfo.EndCursor}
				}
				if !slices.Equal(forward, want) {
					t.Fatalf("forward pages %v, want %v", forward, want)
				}

				var backward []string
				args = map[string]any{"last": size}
				for pages := 0; ; pages++ {
					p := f.fetch(t, f.owner.Client, l, args)
					backward = append(p.ids(), backward...)
					if p.PageInfo.HasNextPage != (pages > 0) {
						t.Fatalf("backward page %d: pageInfo %+v", pages, p.PageInfo)
					}
					if !p.PageInfo.HasPreviousPage {
						break
					}
					args = map[string]any{"last": size, "before": *p.PageInfo.StartCursor}
				}
				if !slices.Equal(backward, want) {
					t.Fatalf("backward pages %v, want %v", backward, want)
				}

				// Between two cursors: the items strictly between them.
				between := f.fetch(t, f.owner.Client, l, map[string]any{"after": all.Edges[0].Cursor, "before": all.Edges[3].Cursor, "first": 10})
				if !slices.Equal(between.ids(), want[1:3]) {
					t.Errorf("after #0 before #3: %v, want %v", between.ids(), want[1:3])
				}
				// An empty page has no cursors.
				empty := f.fetch(t, f.owner.Client, l, map[string]any{"first": 0})
				if len(empty.Edges) != 0 || empty.PageInfo.StartCursor != nil || empty.PageInfo.EndCursor != nil || !empty.PageInfo.HasNextPage {
					t.Errorf("first: 0: %+v", empty)
				}
			})
		}
	})
}

// waitForDeliveries waits until the project's deliveries are all made, so
// that their order and count stay put while the test pages through them.
func (f *connFixture) waitForDeliveries(t *testing.T, n int) {
	t.Helper()
	// A generous deadline: it is only reached when deliveries are missing,
	// and a loaded machine takes long for the ones that are not.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out struct {
			Project struct{ Deliveries struct{ TotalCount int } }
		}
		f.owner.MustDo(`query($p: ID!) { project(id: $p) { deliveries(filter: {status: DELIVERED}) { totalCount } } }`, map[string]any{"p": f.pid}, &out)
		if out.Project.Deliveries.TotalCount == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries made", out.Project.Deliveries.TotalCount, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every connection's nodes are its edges' nodes, in order: a shortcut for
// clients that keep no cursor per item.
func TestConnectionNodesAreTheEdgesNodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newConnFixture(t, d)
		const both = `edges { node { id } } nodes { id }`
		var out struct {
			ProjectsConnection json.RawMessage
			Project            map[string]json.RawMessage
		}
		f.owner.MustDo(`query($p: ID!) {
			projectsConnection { `+both+` }
			project(id: $p) {
				approvals { `+both+` } keys { `+both+` } events { `+both+` } deliveries { `+both+` }
				membersConnection { `+both+` } slackChannelsConnection { `+both+` } apiKeysConnection { `+both+` }
			}
		}`, map[string]any{"p": f.pid}, &out)
		conns := map[string]json.RawMessage{"projectsConnection": out.ProjectsConnection}
		for name, raw := range out.Project {
			conns[name] = raw
		}
		if len(conns) != 8 {
			t.Fatalf("%d connections", len(conns))
		}
		for name, raw := range conns {
			var c struct {
				Edges []struct{ Node struct{ ID string } }
				Nodes []struct{ ID string }
			}
			storetest.Must(t, json.Unmarshal(raw, &c))
			// Deliveries are fanned out after commit: they may not be there yet.
			if len(c.Edges) == 0 && name != "deliveries" || len(c.Nodes) != len(c.Edges) {
				t.Fatalf("%s: %d edges, %d nodes", name, len(c.Edges), len(c.Nodes))
			}
			for i, e := range c.Edges {
				if c.Nodes[i].ID != e.Node.ID {
					t.Fatalf("%s: node %d is %s, edge %d's node %s", name, i, c.Nodes[i].ID, i, e.Node.ID)
				}
			}
		}
	})
}
