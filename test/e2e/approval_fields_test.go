package e2e

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A page of approvals reads only the columns of the fields it selects.
// Every field of Approval, as the schema lists them, must still answer on
// a page what approval(id) answers: alone, all together, through nodes,
// and behind inline and named fragments; and an approval read for a page
// must not answer another selection of the same operation.
func TestPageFieldsAnswerAsTheWholeApproval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		owner := srv.SignUp("Olga")
		pid := owner.CreateProject("Fields")
		create := approvalCreator(owner, pid)
		// Approvals whose every optional field differs: decided with a
		// comment by a named decider, invalidated with a PIN and a reason,
		// and one left pending with nothing optional.
		decided := create(map[string]any{"keyPath": "fields/decided", "info": "Deploy to production?", "refId": "run-1",
			"actions":   []map[string]any{{"key": "ship", "value": "yes", "label": "Ship it"}, {"key": "hold", "value": "no"}},
			"deciders":  []string{owner.ID},
			"allowLink": false})
		owner.MustDo(`mutation($id: ID!) { decideApproval(id: $id, action: "ship", comment: "looks good") { id } }`,
			map[string]any{"id": decided}, nil)
		invalidated := create(map[string]any{"keyPath": "fields/invalidated", "value": "yes", "pin": "2468", "maxPinAttempts": 3})
		owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "superseded") { id } }`,
			map[string]any{"id": invalidated}, nil)
		pending := create(map[string]any{"keyPath": "fields/pending", "value": "yes"})
		ids := []string{decided, invalidated, pending}

		fields := approvalFieldSelections(t, owner.Client)
		all := slices.Sorted(func(yield func(string) bool) {
			for _, sel := range fields {
				if !yield(sel) {
					return
				}
			}
		})
		// do runs an operation that must succeed for the (sub)test t.
		do := func(t *testing.T, query string, vars map[string]any, out any) {
			t.Helper()
			r := owner.Do(query, vars)
			if len(r.Errors) > 0 {
				t.Fatalf("unexpected errors: %+v\n%s", r.Errors, query)
			}
			if err := json.Unmarshal(r.Data, out); err != nil {
				t.Fatalf("decode data: %v: %s", err, r.Data)
			}
		}
		whole := func(t *testing.T, sel string) map[string]map[string]any {
			out := map[string]map[string]any{}
			for _, id := range ids {
				var got struct{ Approval map[string]any }
				do(t, `query($id: ID!) { approval(id: $id) { id `+sel+` } }`, map[string]any{"id": id}, &got)
				out[id] = got.Approval
			}
			return out
		}
		check := func(t *testing.T, sel string) {
			t.Helper()
			want := whole(t, sel)
			forms := map[string]string{
				"edges":    `query($p: ID!) { project(id: $p) { approvals(first: 3) { edges { node { id ` + sel + ` } } } } }`,
				"nodes":    `query($p: ID!) { project(id: $p) { approvals(first: 3) { nodes { id ` + sel + ` } } } }`,
				"inline":   `query($p: ID!) { project(id: $p) { approvals(first: 3) { nodes { id ... on Approval { ` + sel + ` } } } } }`,
				"fragment": `query($p: ID!) { project(id: $p) { approvals(first: 3) { edges { node { id ...F } } } } } fragment F on Approval { ` + sel + ` }`,
			}
			for form, query := range forms {
				var out struct {
					Project struct {
						Approvals struct {
							Edges []struct{ Node map[string]any }
							Nodes []map[string]any
						}
					}
				}
				do(t, query, map[string]any{"p": pid}, &out)
				got := out.Project.Approvals.Nodes
				for _, e := range out.Project.Approvals.Edges {
					got = append(got, e.Node)
				}
				if len(got) != len(ids) {
					t.Fatalf("%s: %d approvals, want %d", form, len(got), len(ids))
				}
				for _, node := range got {
					id, _ := node["id"].(string)
					if !reflect.DeepEqual(node, want[id]) {
						a, _ := json.Marshal(node)
						b, _ := json.Marshal(want[id])
						t.Errorf("%s: approval %s on the page:\n %s\nwant, as approval(id) answers:\n %s", form, id, a, b)
					}
				}
			}
		}
		for name, sel := range fields {
			t.Run(name, func(t *testing.T) { check(t, sel) })
		}
		t.Run("every field", func(t *testing.T) { check(t, strings.Join(all, " ")) })

		// A page that reads only the key path, asked in the same operation
		// for an approval's info through its events, must read it whole.
		var out struct {
			Project struct {
				Approvals struct {
					Nodes []struct {
						ID     string
						Events []struct{ Approval struct{ Info *string } }
					}
				}
			}
		}
		owner.MustDo(`query($p: ID!) { project(id: $p) { approvals(first: 3) { nodes { id keyPath events { approval { info } } } } } }`,
			map[string]any{"p": pid}, &out)
		for _, n := range out.Project.Approvals.Nodes {
			if n.ID != decided {
				continue
			}
			if len(n.Events) == 0 || n.Events[0].Approval.Info == nil || *n.Events[0].Approval.Info != "Deploy to production?" {
				t.Errorf("the decided approval's info through its events: %+v", n.Events)
			}
		}
	})
}

// A page of approvals that shows of their events only what every event
// has reads the events in part. Every field of Event, as the schema lists
// them, must still answer on a page what approval(id)'s events answer:
// alone beside the summary's fields, and all together; and a second page
// of the same operation that asks for more must get it.
func TestPageEventsAnswerAsTheWholeEvents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		owner := srv.SignUp("Olga")
		pid := owner.CreateProject("Events")
		create := approvalCreator(owner, pid)
		// Events of every kind a page shows: created, decided with a
		// comment, a failed PIN, invalidated with a reason; and an approval
		// with its creation alone.
		decided := create(map[string]any{"keyPath": "events/decided", "value": "yes"})
		owner.MustDo(`mutation($id: ID!) { decideApproval(id: $id, action: "approve", comment: "fine") { id } }`,
			map[string]any{"id": decided}, nil)
		invalidated := create(map[string]any{"keyPath": "events/invalidated", "value": "yes", "pin": "2468", "maxPinAttempts": 3})
		owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "superseded") { id } }`,
			map[string]any{"id": invalidated}, nil)
		pending := create(map[string]any{"keyPath": "events/pending", "value": "yes"})
		ids := []string{decided, invalidated, pending}

		type approvalEvents struct {
			ID     string
			Events []map[string]any
		}
		whole := func(t *testing.T, sel string) map[string][]map[string]any {
			out := map[string][]map[string]any{}
			for _, id := range ids {
				var got struct{ Approval approvalEvents }
				owner.MustDo(`query($id: ID!) { approval(id: $id) { id events { `+sel+` } } }`, map[string]any{"id": id}, &got)
				out[id] = got.Approval.Events
			}
			return out
		}
		compare := func(t *testing.T, form string, got []approvalEvents, want map[string][]map[string]any) {
			t.Helper()
			if len(got) != len(ids) {
				t.Fatalf("%s: %d approvals, want %d", form, len(got), len(ids))
			}
			for _, a := range got {
				if len(a.Events) == 0 || !reflect.DeepEqual(a.Events, want[a.ID]) {
					g, _ := json.Marshal(a.Events)
					w, _ := json.Marshal(want[a.ID])
					t.Errorf("%s: events of %s on the page:\n %s\nwant, as approval(id) answers:\n %s", form, a.ID, g, w)
				}
			}
		}
		check := func(t *testing.T, sel string) {
			t.Helper()
			want := whole(t, sel)
			forms := map[string]string{
				"edges":    `query($p: ID!) { project(id: $p) { approvals(first: 3) { edges { node { id events { ` + sel + ` } } } } } }`,
				"nodes":    `query($p: ID!) { project(id: $p) { approvals(first: 3) { nodes { id events { ` + sel + ` } } } } }`,
				"fragment": `query($p: ID!) { project(id: $p) { approvals(first: 3) { nodes { id events { ...E } } } } } fragment E on Event { ` + sel + ` }`,
			}
			for form, query := range forms {
				var out struct {
					Project struct {
						Approvals struct {
							Edges []struct{ Node approvalEvents }
							Nodes []approvalEvents
						}
					}
				}
				owner.MustDo(query, map[string]any{"p": pid}, &out)
				got := out.Project.Approvals.Nodes
				for _, e := range out.Project.Approvals.Edges {
					got = append(got, e.Node)
				}
				compare(t, form, got, want)
			}
		}
		const summary = "id type occurredAt"
		t.Run("summary", func(t *testing.T) { check(t, summary) })
		fields := fieldSelections(t, owner.Client, "Event")
		if len(fields) < 10 {
			t.Fatalf("only %d fields of Event found: %v", len(fields), fields)
		}
		var all []string
		for name, sel := range fields {
			all = append(all, sel)
			t.Run(name, func(t *testing.T) { check(t, summary+" "+sel) })
		}
		t.Run("every field", func(t *testing.T) { check(t, strings.Join(all, " ")) })

		// Two pages of one operation: the first shows the summary, the
		// second asks for more, and gets it.
		t.Run("two pages", func(t *testing.T) {
			const more = "id type occurredAt keyPath reason action"
			want := whole(t, more)
			var out struct {
				Project struct {
					A, B struct{ Nodes []approvalEvents }
				}
			}
			owner.MustDo(`query($p: ID!) { project(id: $p) {
				a: approvals(first: 3) { nodes { id events { id type occurredAt } } }
				b: approvals(first: 3) { nodes { id events { `+more+` } } } } }`, map[string]any{"p": pid}, &out)
			compare(t, "second page", out.Project.B.Nodes, want)
			compare(t, "first page", out.Project.A.Nodes, whole(t, summary))
		})
	})
}

// approvalCreator creates approvals of input in project pid as user u and
// returns their ids.
func approvalCreator(u *testserver.User, pid string) func(input map[string]any) string {
	return func(input map[string]any) string {
		var out struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		u.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { approval { id } } }`,
			map[string]any{"p": pid, "i": input}, &out)
		return out.CreateApproval.Approval.ID
	}
}

// approvalFieldSelections asks the server's schema for Approval's fields
// and returns a selection of each: its name, and for an object its
// fields down to one more level, leaving out fields that take arguments
// below the first level.
func approvalFieldSelections(t *testing.T, c *testserver.Client) map[string]string {
	t.Helper()
	out := fieldSelections(t, c, "Approval")
	if len(out) < 20 {
		t.Fatalf("only %d fields of Approval found: %v", len(out), out)
	}
	return out
}

// fieldSelections is approvalFieldSelections for the object type typeName.
func fieldSelections(t *testing.T, c *testserver.Client, typeName string) map[string]string {
	t.Helper()
	types := map[string][]introField{}
	fieldsOf := func(name string) []introField {
		if fs, ok := types[name]; ok {
			return fs
		}
		var out struct {
			Type struct{ Fields []introField } `json:"__type"`
		}
		c.MustDo(`query($n: String!) { __type(name: $n) { fields { name args { name type { kind } defaultValue }
			type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }`, map[string]any{"n": name}, &out)
		types[name] = out.Type.Fields
		return out.Type.Fields
	}
	var selection func(f introField, depth int) string
	selection = func(f introField, depth int) string {
		kind, name := f.Type.named()
		if kind == "SCALAR" || kind == "ENUM" {
			return f.Name
		}
		if kind != "OBJECT" || depth == 0 {
			return ""
		}
		var sub []string
		for _, g := range fieldsOf(name) {
			if len(g.Args) > 0 {
				continue
			}
			if s := selection(g, depth-1); s != "" {
				sub = append(sub, s)
			}
		}
		if len(sub) == 0 {
			return ""
		}
		return f.Name + " { " + strings.Join(sub, " ") + " }"
	}
	out := map[string]string{}
	for _, f := range fieldsOf(typeName) {
		if f.requiresArgument() {
			continue
		}
		if s := selection(f, 2); s != "" {
			out[f.Name] = s
		}
	}
	return out
}

type introField struct {
	Name string
	Args []struct {
		Name         string
		Type         struct{ Kind string }
		DefaultValue *string
	}
	Type introType
}

type introType struct {
	Kind   string
	Name   string
	OfType *introType
}

// named is the type behind the list and non-null wrappers.
func (t introType) named() (kind, name string) {
	for t.OfType != nil && (t.Kind == "NON_NULL" || t.Kind == "LIST") {
		t = *t.OfType
	}
	return t.Kind, t.Name
}

func (f introField) requiresArgument() bool {
	for _, a := range f.Args {
		if a.Type.Kind == "NON_NULL" && a.DefaultValue == nil {
			return true
		}
	}
	return false
}
