package e2e_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

type approvalNode struct {
	ID, KeyPath, Status  string
	CreatedAt, ExpiresAt time.Time
}

// approvalsWhere lists the fixture's approvals with the arguments args
// (GraphQL syntax, e.g. `filter: {refId: "x"}`).
func (f *connFixture) approvalsWhere(t *testing.T, args string) []approvalNode {
	t.Helper()
	var out struct {
		Project struct {
			Approvals struct {
				TotalCount int
				Edges      []struct{ Node approvalNode }
			}
		}
	}
	f.owner.MustDo(fmt.Sprintf(`query($p: ID!) { project(id: $p) { approvals(first: 100, %s) { totalCount edges { node { id keyPath status createdAt expiresAt } } } } }`, args),
		map[string]any{"p": f.pid}, &out)
	nodes := make([]approvalNode, len(out.Project.Approvals.Edges))
	for i, e := range out.Project.Approvals.Edges {
		nodes[i] = e.Node
	}
	if out.Project.Approvals.TotalCount != len(nodes) {
		t.Errorf("%s: totalCount %d for %d approvals", args, out.Project.Approvals.TotalCount, len(nodes))
	}
	return nodes
}

func approvalIDs(nodes []approvalNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// The filters and orders a dashboard needs, each checked against the
// whole list read without it.
func TestListFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newConnFixture(t, d)
		newest := f.approvalsWhere(t, "")
		if len(newest) != connItems {
			t.Fatalf("%d approvals", len(newest))
		}
		// newest[i] is app/(4-i)/deploy with ref-((4-i)%2).
		withdrawn := newest[1].ID
		f.owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "no") { id } }`, map[string]any{"id": withdrawn}, nil)
		var short struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		f.script.MustDo(`mutation($p: ID!) { createApproval(projectId: $p, input: {keyPath: "short/lived", value: "y", ttlSeconds: 60}) { approval { id } } }`,
			map[string]any{"p": f.pid}, &short)
		shortID := short.CreateApproval.Approval.ID
		f.waitForDeliveries(t, connItems*(connItems+1))

		t.Run("approvals", func(t *testing.T) {
			all := f.approvalsWhere(t, "")
			if got := approvalIDs(f.approvalsWhere(t, "filter: {status: INVALIDATED}")); !slices.Equal(got, []string{withdrawn}) {
				t.Errorf("INVALIDATED: %v, want %v", got, withdrawn)
			}
			if got := f.approvalsWhere(t, "filter: {status: PENDING}"); len(got) != connItems {
				t.Errorf("PENDING: %d approvals", len(got))
			}
			if got := f.approvalsWhere(t, `filter: {keyPrefix: "app/3"}`); len(got) != 1 || got[0].KeyPath != "app/3/deploy" {
				t.Errorf("keyPrefix app/3: %+v", got)
			}
			if got := f.approvalsWhere(t, `filter: {refId: "ref-0"}`); len(got) != 3 {
				t.Errorf("refId ref-0: %d approvals, want 3", len(got))
			}
			// all is newest first: all[3] is older than all[2].
			from := all[3].CreatedAt.Format(time.RFC3339Nano)
			if got := approvalIDs(f.approvalsWhere(t, fmt.Sprintf(`filter: {createdAfter: %q}`, from))); !slices.Equal(got, approvalIDs(all[:4])) {
				t.Errorf("createdAfter #3: %v, want %v", got, approvalIDs(all[:4]))
			}
			if got := approvalIDs(f.approvalsWhere(t, fmt.Sprintf(`filter: {createdBefore: %q}`, from))); !slices.Equal(got, approvalIDs(all[4:])) {
				t.Errorf("createdBefore #3: %v, want %v", got, approvalIDs(all[4:]))
			}
			oldest := approvalIDs(f.approvalsWhere(t, "sort: OLDEST"))
			slices.Reverse(oldest)
			if !slices.Equal(oldest, approvalIDs(all)) {
				t.Errorf("OLDEST is not NEWEST reversed: %v against %v", oldest, approvalIDs(all))
			}
			expiring := f.approvalsWhere(t, "sort: EXPIRING_SOON")
			if expiring[0].ID != shortID || !slices.IsSortedFunc(expiring, func(a, b approvalNode) int { return a.ExpiresAt.Compare(b.ExpiresAt) }) {
				t.Errorf("EXPIRING_SOON: %+v", expiring)
			}
		})

		t.Run("events", func(t *testing.T) {
			type events struct {
				Project struct {
					Events struct {
						TotalCount int
						Edges      []struct {
							Node struct {
								ID, Type, KeyPath string
								OccurredAt        time.Time
								Approval          *struct{ ID string }
							}
						}
					}
				}
			}
			list := func(filter string) events {
				var out events
				f.owner.MustDo(fmt.Sprintf(`query($p: ID!) { project(id: $p) { events(first: 100, filter: %s) { totalCount edges { node { id type keyPath occurredAt approval { id } } } } } }`, filter),
					map[string]any{"p": f.pid}, &out)
				return out
			}
			if got := list("{types: [APPROVAL_INVALIDATED]}"); got.Project.Events.TotalCount != 1 || got.Project.Events.Edges[0].Node.Approval.ID != withdrawn {
				t.Errorf("APPROVAL_INVALIDATED: %+v", got)
			}
			if got := list(`{keyPath: "app/3/deploy"}`); got.Project.Events.TotalCount != 2 { // created, invalidated
				t.Errorf("keyPath app/3/deploy: %+v", got)
			}
			byApproval := list(fmt.Sprintf(`{approvalId: %q}`, withdrawn))
			if byApproval.Project.Events.TotalCount != 2 {
				t.Fatalf("approvalId: %+v", byApproval)
			}
			for _, e := range byApproval.Project.Events.Edges {
				if e.Node.Approval == nil || e.Node.Approval.ID != withdrawn {
					t.Errorf("approvalId filter let through %+v", e.Node)
				}
			}
			all := list("{}")
			if all.Project.Events.TotalCount != connItems+2 {
				t.Fatalf("%d events", all.Project.Events.TotalCount)
			}
			at := all.Project.Events.Edges[1].Node.OccurredAt.Format(time.RFC3339Nano)
			after, before := list(fmt.Sprintf(`{occurredAfter: %q}`, at)), list(fmt.Sprintf(`{occurredBefore: %q}`, at))
			if after.Project.Events.TotalCount+before.Project.Events.TotalCount != all.Project.Events.TotalCount || after.Project.Events.TotalCount < 2 {
				t.Errorf("occurredAfter %d + occurredBefore %d events, of %d", after.Project.Events.TotalCount, before.Project.Events.TotalCount, all.Project.Events.TotalCount)
			}
			// The approval's own connection holds the same events.
			var own struct {
				Approval struct{ EventsConnection struct{ TotalCount int } }
			}
			f.owner.MustDo(`query($id: ID!) { approval(id: $id) { eventsConnection(first: 10) { totalCount } } }`, map[string]any{"id": withdrawn}, &own)
			if own.Approval.EventsConnection.TotalCount != 2 {
				t.Errorf("Approval.eventsConnection: %+v", own)
			}
		})

		t.Run("deliveries", func(t *testing.T) {
			type deliveries struct {
				Project struct {
					Deliveries struct {
						TotalCount int
						Edges      []struct {
							Node struct {
								Status  string
								Channel struct{ ID, Name string }
								Event   struct{ ID string }
							}
						}
					}
					SlackChannelsConnection struct {
						Edges []struct{ Node struct{ ID string } }
					}
				}
			}
			list := func(filter string) deliveries {
				var out deliveries
				f.owner.MustDo(fmt.Sprintf(`query($p: ID!) { project(id: $p) { deliveries(first: 100, filter: %s) { totalCount edges { node { status channel { id name } event { id } } } } slackChannelsConnection { edges { node { id } } } } }`, filter),
					map[string]any{"p": f.pid}, &out)
				return out
			}
			want := connItems * (connItems + 1)
			if got := list("{status: DELIVERED}"); got.Project.Deliveries.TotalCount != want {
				t.Errorf("DELIVERED: %d, want %d", got.Project.Deliveries.TotalCount, want)
			}
			if got := list("{status: FAILED}"); got.Project.Deliveries.TotalCount != 0 {
				t.Errorf("FAILED: %d, want 0", got.Project.Deliveries.TotalCount)
			}
			channel := list("{}").Project.SlackChannelsConnection.Edges[2].Node.ID
			byChannel := list(fmt.Sprintf("{channelId: %q}", channel))
			if byChannel.Project.Deliveries.TotalCount != connItems+1 {
				t.Errorf("channelId: %d deliveries, want %d", byChannel.Project.Deliveries.TotalCount, connItems+1)
			}
			for _, e := range byChannel.Project.Deliveries.Edges {
				if e.Node.Channel.ID != channel || e.Node.Event.ID == "" {
					t.Errorf("channelId filter let through %+v", e.Node)
				}
			}
			// Another project's channel matches nothing here.
			other := f.srv.SignUp("Eve")
			otherPID := other.CreateProject("Eve's")
			otherChannel := other.AddSlackChannel(otherPID, "eve", f.fake.WebhookURL("T2", "B2", "S3cret"), "APPROVAL_CREATED")
			if got := list(fmt.Sprintf("{channelId: %q}", otherChannel)); got.Project.Deliveries.TotalCount != 0 {
				t.Errorf("another project's channel: %d deliveries", got.Project.Deliveries.TotalCount)
			}
			var one struct {
				Node struct{ Deliveries struct{ TotalCount int } }
			}
			f.owner.MustDo(`query($id: ID!) { node(id: $id) { ... on SlackChannel { deliveries(status: DELIVERED) { totalCount } } } }`, map[string]any{"id": channel}, &one)
			if one.Node.Deliveries.TotalCount != connItems+1 {
				t.Errorf("SlackChannel.deliveries(status: DELIVERED): %d", one.Node.Deliveries.TotalCount)
			}
		})
	})
}

// Paging arguments and filters refuse what they cannot mean with
// BAD_USER_INPUT, on both databases, never INTERNAL.
func TestListArgumentsAreValidated(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newConnFixture(t, d)
		var cursors struct {
			Project struct {
				Approvals, Keys struct{ PageInfo struct{ EndCursor string } }
			}
		}
		f.owner.MustDo(`query($p: ID!) { project(id: $p) { approvals(first: 1) { pageInfo { endCursor } } keys(first: 1) { pageInfo { endCursor } } } }`,
			map[string]any{"p": f.pid}, &cursors)
		newestCursor, keyCursor := cursors.Project.Approvals.PageInfo.EndCursor, cursors.Project.Keys.PageInfo.EndCursor
		nul := "a\x00b"
		for _, tc := range []struct {
			name, query, field string
			vars               map[string]any
		}{
			{"first too large", `query($p: ID!) { project(id: $p) { approvals(first: 101) { totalCount } } }`, "first", nil},
			{"negative last", `query($p: ID!) { project(id: $p) { keys(last: -1) { totalCount } } }`, "last", nil},
			{"first and last", `query($p: ID!) { project(id: $p) { membersConnection(first: 2, last: 2) { totalCount } } }`, "last", nil},
			{"not a cursor", `query($p: ID!) { project(id: $p) { events(after: "not a cursor!") { totalCount } } }`, "after", nil},
			{"another list's cursor", `query($p: ID!, $c: String) { project(id: $p) { approvals(before: $c) { totalCount } } }`, "before", map[string]any{"c": keyCursor}},
			{"another order's cursor", `query($p: ID!, $c: String) { project(id: $p) { approvals(after: $c, sort: OLDEST) { totalCount } } }`, "after", map[string]any{"c": newestCursor}},
			{"NUL in keyPrefix", `query($p: ID!, $s: String) { project(id: $p) { approvals(filter: {keyPrefix: $s}) { totalCount } } }`, "filter.keyPrefix", map[string]any{"s": nul}},
			{"NUL in refId", `query($p: ID!, $s: String) { project(id: $p) { approvals(filter: {refId: $s}) { totalCount } } }`, "filter.refId", map[string]any{"s": nul}},
			{"NUL in key prefix", `query($p: ID!, $s: String) { project(id: $p) { keys(prefix: $s) { totalCount } } }`, "prefix", map[string]any{"s": nul}},
			{"NUL in event keyPath", `query($p: ID!, $s: String) { project(id: $p) { events(filter: {keyPath: $s}) { totalCount } } }`, "filter.keyPath", map[string]any{"s": nul}},
			{"NUL in event approvalId", `query($p: ID!, $s: ID) { project(id: $p) { events(filter: {approvalId: $s}) { totalCount } } }`, "filter.approvalId", map[string]any{"s": nul}},
			{"NUL in channelId", `query($p: ID!, $s: ID) { project(id: $p) { deliveries(filter: {channelId: $s}) { totalCount } } }`, "filter.channelId", map[string]any{"s": nul}},
			{"types twice", `query($p: ID!) { project(id: $p) { events(types: [PIN_FAILED], filter: {types: [TOKEN_LOCKED]}) { totalCount } } }`, "filter", nil},
			{"NUL in node id", `query($s: ID!) { node(id: $s) { id } }`, "id", map[string]any{"s": nul}},
			{"too many node ids", `query($s: [ID!]!) { nodes(ids: $s) { id } }`, "ids", map[string]any{"s": make([]string, 101)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				vars := map[string]any{"p": f.pid}
				for k, v := range tc.vars {
					vars[k] = v
				}
				e := f.owner.ErrorCode(tc.query, vars)
				if e.Code() != "BAD_USER_INPUT" || e.Field() != tc.field {
					t.Errorf("got %s on %q (%s), want BAD_USER_INPUT on %q", e.Code(), e.Field(), e.Message, tc.field)
				}
			})
		}
	})
}

// A filter with a Time that does not parse is the client's request error,
// named in its terms; it nulls no parent that a cache would then store.
func TestBadTimeFilterIsARequestError(t *testing.T) {
	t.Parallel()
	// A Time is coerced before any resolver runs: one database suffices
	// (TestListFilters reads the time filters on both).
	srv := testserver.Start(t, store.SQLite)
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("times")
	for _, tc := range []struct {
		query string
		vars  map[string]any
		field string
	}{
		{`query($p: ID!) { project(id: $p) { id approvals(filter: {createdAfter: "yesterday"}) { totalCount } } }`, map[string]any{"p": pid}, "filter.createdAfter"},
		{`query($p: ID!, $t: Time) { project(id: $p) { id events(filter: {occurredBefore: $t}) { totalCount } } }`, map[string]any{"p": pid, "t": "yesterday"}, "t"},
	} {
		r := owner.Do(tc.query, tc.vars)
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != tc.field || r.Errors[0].Path != nil {
			t.Fatalf("%s: %d %+v, want one BAD_USER_INPUT on %s", tc.query, r.Status, r.Errors, tc.field)
		}
		if len(r.Data) != 0 && string(r.Data) != "null" {
			t.Fatalf("%s: data %s beside a request error", tc.query, r.Data)
		}
	}
	var out struct{ Project struct{ ID string } }
	owner.MustDo(`query($p: ID!, $t: Time) { project(id: $p) { id approvals(filter: {createdAfter: $t}) { totalCount } } }`,
		map[string]any{"p": pid, "t": time.Now().Add(-24 * time.Hour).Format(time.RFC3339)}, &out)
	if out.Project.ID != pid {
		t.Fatalf("project %q", out.Project.ID)
	}
}
