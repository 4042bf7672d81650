package graph

import (
	"strings"
	"testing"
)

// "Did you mean" tells the schema that disabled introspection hides: it
// follows OTTR_INTROSPECTION for fields, arguments, enum values, input
// fields and selections alike.
func TestSuggestionsFollowIntrospection(t *testing.T) {
	t.Parallel()
	for _, introspection := range []bool{true, false} {
		url := newTestServer(t, HandlerOptions{Introspection: introspection})
		for _, doc := range []string{
			`{ projectz { id } }`,
			`{ project(idd: "x") { id } }`,
			`{ project(id: "x") { approvals(sort: NEWESTT) { totalCount } } }`,
			`mutation { createProject(input: {name: "x", namee: "x"}) { id } }`,
			`{ projects }`,
		} {
			code, msg := post(t, url, map[string]any{"query": doc})
			if code != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("%s: %s %q", doc, code, msg)
			}
			if suggests := strings.Contains(msg, "Did you mean"); suggests != introspection {
				t.Errorf("introspection %v: %s: %q", introspection, doc, msg)
			}
		}
	}
}
