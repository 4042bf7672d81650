package approval_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

type pageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

const eventsQuery = `query($p: ID!, $types: [EventType!], $first: Int, $after: String) { project(id: $p) {
	events(types: $types, first: $first, after: $after) { edges { cursor node { id type approvalId keyPath } } pageInfo { hasNextPage endCursor } } } }`

type eventsPage struct {
	Project struct {
		Events struct {
			Edges []struct {
				Cursor string
				Node   eventOut
			}
			PageInfo pageInfo
		}
	}
}

// allEvents pages through a project's events with a page size and returns
// them in the order served.
func (e *env) allEvents(c *testserver.Client, types []string, first int) []eventOut {
	e.t.Helper()
	var all []eventOut
	var after *string
	for {
		var out eventsPage
		c.MustDo(eventsQuery, map[string]any{"p": e.pid, "types": types, "first": first, "after": after}, &out)
		ev := out.Project.Events
		if len(ev.Edges) > first {
			e.t.Fatalf("page of %d events for first %d", len(ev.Edges), first)
		}
		for _, edge := range ev.Edges {
			all = append(all, edge.Node)
		}
		if !ev.PageInfo.HasNextPage {
			return all
		}
		if ev.PageInfo.EndCursor == nil || *ev.PageInfo.EndCursor != ev.Edges[len(ev.Edges)-1].Cursor {
			e.t.Fatalf("endCursor %v is not the last edge's cursor", ev.PageInfo.EndCursor)
		}
		after = ev.PageInfo.EndCursor
	}
}

func (e *env) countEvents() int {
	e.t.Helper()
	return len(e.allEvents(e.owner.Client, nil, 100))
}

func TestProjectEventsNewestFirstWithCursors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		var ids []string
		for i := range 3 {
			c := e.create(map[string]any{"keyPath": fmt.Sprintf("k/%d", i), "value": "yes", "pin": "1234"})
			nonce := open(t, e.anon, c.Token).Nonce
			execute(t, e.anon, c.Token, nonce, "approve", ptr("0000"))
			execute(t, e.anon, c.Token, nonce, "approve", ptr("1234"))
			ids = append(ids, c.Approval.ID)
		}
		// 3 × CREATED, PIN_FAILED, EXECUTED, recorded in that order.
		whole := e.allEvents(e.owner.Client, nil, 100)
		if len(whole) != 9 {
			t.Fatalf("%d events, want 9", len(whole))
		}
		for i := 1; i < len(whole); i++ {
			if cmpID(whole[i-1].ID, whole[i].ID) <= 0 {
				t.Fatalf("events are not newest first: %s before %s", whole[i-1].ID, whole[i].ID)
			}
		}
		if whole[0].Type != "APPROVAL_EXECUTED" || *whole[0].ApprovalID != ids[2] || whole[8].Type != "APPROVAL_CREATED" || *whole[8].ApprovalID != ids[0] {
			t.Fatalf("unexpected ends: %+v … %+v", whole[0], whole[8])
		}
		for _, size := range []int{1, 2, 4, 9} {
			if paged := e.allEvents(e.write, nil, size); !slices.Equal(eventIDs(paged), eventIDs(whole)) {
				t.Fatalf("pages of %d give %v, want %v", size, eventIDs(paged), eventIDs(whole))
			}
		}
		failed := e.allEvents(e.owner.Client, []string{"PIN_FAILED", "APPROVAL_EXECUTED"}, 2)
		if len(failed) != 6 || failed[0].Type != "APPROVAL_EXECUTED" || failed[1].Type != "PIN_FAILED" {
			t.Fatalf("filtered events: %+v", failed)
		}
		// Events recorded after a page was served do not shift the next page.
		var first eventsPage
		e.owner.MustDo(eventsQuery, map[string]any{"p": e.pid, "first": 3}, &first)
		e.create(map[string]any{"keyPath": "late", "value": "yes"})
		var next eventsPage
		e.owner.MustDo(eventsQuery, map[string]any{"p": e.pid, "first": 3, "after": first.Project.Events.PageInfo.EndCursor}, &next)
		if got := next.Project.Events.Edges[0].Node.ID; got != whole[3].ID {
			t.Fatalf("next page starts at %s, want %s", got, whole[3].ID)
		}

		wantError(t, e.owner.ErrorCode(eventsQuery, map[string]any{"p": e.pid, "after": "bm9wZQ"}), "BAD_USER_INPUT", "after")
		wantError(t, e.owner.ErrorCode(eventsQuery, map[string]any{"p": e.pid, "after": "%%%"}), "BAD_USER_INPUT", "after")
		wantError(t, e.owner.ErrorCode(eventsQuery, map[string]any{"p": e.pid, "first": 101}), "BAD_USER_INPUT", "first")
		wantError(t, e.owner.ErrorCode(eventsQuery, map[string]any{"p": e.pid, "first": -1}), "BAD_USER_INPUT", "first")
	})
}

func cmpID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func eventIDs(evs []eventOut) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func TestEventsAreTheProjectsOwn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes"})
		stranger := e.srv.SignUp("Stranger")
		other := stranger.CreateProject("Other")
		_, otherKey := stranger.CreateAPIKey(other, "WRITE")
		var out struct{ CreateApproval created }
		e.srv.Client(otherKey).MustDo(createMutation, map[string]any{"p": other, "i": map[string]any{"keyPath": "k", "value": "x"}}, &out)

		if evs := e.allEvents(e.owner.Client, nil, 10); len(evs) != 1 || *evs[0].ApprovalID != c.Approval.ID {
			t.Fatalf("events of the project: %+v", evs)
		}
		var seen struct{ Project *struct{ ID string } }
		stranger.MustDo(eventsQuery, map[string]any{"p": e.pid}, &seen)
		if seen.Project != nil {
			t.Fatalf("a stranger reads another tenant's events")
		}
		// A key of the other project reads nothing of this one.
		e.srv.Client(otherKey).MustDo(eventsQuery, map[string]any{"p": e.pid}, &seen)
		if seen.Project != nil {
			t.Fatalf("another project's key reads this project's events")
		}
	})
}

func TestApprovalsListFiltersAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		var ids []string
		for i, path := range []string{"app/a", "app/b", "app_x", "other/a", "app/c"} {
			c := e.create(map[string]any{"keyPath": path, "value": "yes", "refId": fmt.Sprintf("ref-%d", i%2)})
			ids = append(ids, c.Approval.ID)
		}
		executed := e.create(map[string]any{"keyPath": "app/d", "value": "yes"})
		execute(t, e.anon, executed.Token, open(t, e.anon, executed.Token).Nonce, "approve", nil)
		ids = append(ids, executed.Approval.ID)
		slices.Reverse(ids)

		if got := e.listStatuses(nil); !slices.Equal(got, ids) {
			t.Fatalf("all approvals %v, want newest first %v", got, ids)
		}
		if got := e.listStatuses(map[string]any{"status": "EXECUTED"}); !slices.Equal(got, ids[:1]) {
			t.Fatalf("EXECUTED: %v", got)
		}
		if got := e.listStatuses(map[string]any{"status": "PENDING"}); !slices.Equal(got, ids[1:]) {
			t.Fatalf("PENDING: %v", got)
		}
		// "app/" matches by its characters: "_" is no wildcard, case counts.
		if got := e.listStatuses(map[string]any{"keyPrefix": "app/"}); !slices.Equal(got, []string{ids[0], ids[1], ids[4], ids[5]}) {
			t.Fatalf("keyPrefix app/: %v", got)
		}
		if got := e.listStatuses(map[string]any{"keyPrefix": "app_"}); !slices.Equal(got, []string{ids[3]}) {
			t.Fatalf("keyPrefix app_: %v", got)
		}
		if got := e.listStatuses(map[string]any{"keyPrefix": "APP"}); len(got) != 0 {
			t.Fatalf("keyPrefix APP: %v", got)
		}
		if got := e.listStatuses(map[string]any{"refId": "ref-1", "status": "PENDING", "keyPrefix": "app"}); !slices.Equal(got, []string{ids[4]}) {
			t.Fatalf("combined filter: %v", got)
		}

		const q = `query($p: ID!, $first: Int, $after: String) { project(id: $p) { approvals(first: $first, after: $after) {
			edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }`
		var paged []string
		var after *string
		for {
			var out struct {
				Project struct {
					Approvals struct {
						Edges []struct {
							Cursor string
							Node   struct{ ID string }
						}
						PageInfo pageInfo
					}
				}
			}
			e.write.MustDo(q, map[string]any{"p": e.pid, "first": 4, "after": after}, &out)
			for _, edge := range out.Project.Approvals.Edges {
				paged = append(paged, edge.Node.ID)
			}
			if !out.Project.Approvals.PageInfo.HasNextPage {
				break
			}
			after = out.Project.Approvals.PageInfo.EndCursor
		}
		if !slices.Equal(paged, ids) {
			t.Fatalf("pages of 4: %v, want %v", paged, ids)
		}
		wantError(t, e.owner.ErrorCode(q, map[string]any{"p": e.pid, "after": "bm9wZQ"}), "BAD_USER_INPUT", "after")
		wantError(t, e.owner.ErrorCode(q, map[string]any{"p": e.pid, "first": 101}), "BAD_USER_INPUT", "first")
		wantError(t, e.owner.ErrorCode(`query($p: ID!) { project(id: $p) { approvals(filter: {keyPrefix: "`+strings.Repeat("a", 201)+`"}) { edges { cursor } } } }`,
			map[string]any{"p": e.pid}), "BAD_USER_INPUT", "keyPrefix")
	})
}

func TestApprovalEventsOldestFirst(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "pin": "1234"})
		other := e.create(map[string]any{"keyPath": "k", "value": "yes"})
		nonce := open(t, e.anon, c.Token).Nonce
		execute(t, e.anon, c.Token, nonce, "approve", ptr("1111"))
		execute(t, e.anon, c.Token, nonce, "approve", ptr("2222"))
		execute(t, e.anon, c.Token, nonce, "approve", ptr("1234"))
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "APPROVAL_EXECUTED")
		e.wantEvents(other.Approval.ID, "APPROVAL_CREATED")
		// Through the created approval too, and with its project.
		var out struct {
			CreateApproval struct {
				Approval struct {
					Project struct{ Name string }
					Events  []eventOut
				}
			}
		}
		e.write.MustDo(`mutation($p: ID!) { createApproval(projectId: $p, input: {keyPath: "k", value: "v"}) {
			approval { project { name } events { type keyPath } } } }`, map[string]any{"p": e.pid}, &out)
		if a := out.CreateApproval.Approval; a.Project.Name != "Deploys" || len(a.Events) != 1 || a.Events[0].Type != "APPROVAL_CREATED" {
			t.Fatalf("created approval: %+v", a)
		}
	})
}

// A page of approvals loads the events of all its approvals at once and
// takes their project from the list; each must read as approval(id) reads.
func TestApprovalsListShowsWhatEachApprovalShows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		executed := e.create(map[string]any{"keyPath": "a", "value": "yes", "pin": "1234"})
		nonce := open(t, e.anon, executed.Token).Nonce
		e.anon.MustDo(executeMutation, executeVars(executed.Token, nonce, "approve", ptr("0000")), nil)
		e.anon.MustDo(executeMutation, executeVars(executed.Token, nonce, "approve", ptr("1234")), nil)
		e.create(map[string]any{"keyPath": "b", "value": "yes"})
		e.create(map[string]any{"keyPath": "c", "value": "yes"})

		var out struct {
			Project struct {
				Approvals struct {
					Edges []struct {
						Node struct {
							approvalOut
							Project struct{ ID, Name string }
						}
					}
				}
			}
		}
		e.owner.MustDo(`query($p: ID!) { project(id: $p) { approvals { edges { node { id keyPath status failedPinAttempts
			maxPinAttempts expiresAt executedAction { key value label style } executedAt invalidatedAt invalidationReason
			events { id type projectId approvalId keyPath action attempts maxAttempts reason } project { id name } } } } } }`,
			map[string]any{"p": e.pid}, &out)
		if len(out.Project.Approvals.Edges) != 3 {
			t.Fatalf("%d approvals, want 3", len(out.Project.Approvals.Edges))
		}
		for _, edge := range out.Project.Approvals.Edges {
			listed, _ := json.Marshal(edge.Node.approvalOut)
			alone, _ := json.Marshal(e.approval(edge.Node.ID))
			if string(listed) != string(alone) || edge.Node.Project.ID != e.pid || edge.Node.Project.Name != "Deploys" {
				t.Fatalf("listed %s in %+v\nalone  %s", listed, edge.Node.Project, alone)
			}
		}
		if got := e.eventTypes(executed.Approval.ID); !slices.Equal(got, []string{"APPROVAL_CREATED", "PIN_FAILED", "APPROVAL_EXECUTED"}) {
			t.Fatalf("events of the executed approval: %v", got)
		}
	})
}
