package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
)

// post sends one GraphQL request over real HTTP and returns the first
// error's code and message, or the data.
func post(t *testing.T, url string, params map[string]any) (code, message string) {
	t.Helper()
	body, _ := json.Marshal(params)
	resp, err := http.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if len(out.Errors) == 0 {
		return "", fmt.Sprint(out.Data)
	}
	c, _ := out.Errors[0].Extensions["code"].(string)
	return c, out.Errors[0].Message
}

func newTestServer(t *testing.T, opts HandlerOptions) string {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(NewHandler(&Resolver{}, opts))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fragmentBomb is a document of n+1 fragments, each spreading the one
// before it twice: about 40 bytes a level, 2^n fields once expanded.
func fragmentBomb(n int, leaf string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query{...F%d} fragment F0 on Query{%s}", n, leaf)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{...F%d ...F%d}", i, i-1, i-1)
	}
	return b.String()
}

// Documents whose expansion is exponential in their size are measured in
// time linear in it by every walk before the executor (complexity, depth,
// introspection, text), and refused.
func TestFragmentBombsAreRefusedAtOnce(t *testing.T) {
	t.Parallel()
	url := newTestServer(t, HandlerOptions{Introspection: true})
	for name, doc := range map[string]string{
		"typename, 40 levels": fragmentBomb(40, "__typename"),
		"deep, 40 levels":     fragmentBomb(40, "projects{approvals{edges{node{project{approvals{edges{node{id}}}}}}}}"),
		"text, 40 levels":     fragmentBomb(40, `approvalLink(token:"x"){info}`),
	} {
		start := time.Now()
		code, msg := post(t, url, map[string]any{"query": doc})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: answered after %v", name, took)
		}
		if code != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("%s: %s %q, want COMPLEXITY_LIMIT_EXCEEDED", name, code, msg)
		}
	}
	// The executor merges the fields of one response name: the one
	// __schema field that this expands to is served, once.
	start := time.Now()
	if code, msg := post(t, url, map[string]any{"query": fragmentBomb(40, "__schema{queryType{name}}")}); code != "" || msg != "map[__schema:map[queryType:map[name:Query]]]" {
		t.Fatalf("introspection, 40 levels: %s %q", code, msg)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("introspection, 40 levels: answered after %v", took)
	}
	// A few levels that expand to little are served.
	if code, msg := post(t, url, map[string]any{"query": fragmentBomb(5, "__typename")}); code != "" || msg != "map[__typename:Query]" {
		t.Fatalf("5 levels: %s %q", code, msg)
	}
}

// OverlappingFieldsCanBeMerged compares the fields of one response name
// pairwise: thousands of them, well under the token limit, took seconds.
func TestManyFieldsOfOneNameAreRefusedAtOnce(t *testing.T) {
	t.Parallel()
	url := newTestServer(t, HandlerOptions{})
	for name, field := range map[string]string{
		"typename":            " __typename",
		"aliased, arguments":  ` a: approvalLink(token: "x") { info }`,
		"nested in one field": ` projects { approvals { totalCount } }`,
	} {
		doc := "{" + strings.Repeat(field, 2400/strings.Count(field, " ")) + "}"
		start := time.Now()
		code, msg := post(t, url, map[string]any{"query": doc})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: answered after %v", name, took)
		}
		if code != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("%s: %s %q, want COMPLEXITY_LIMIT_EXCEEDED", name, code, msg)
		}
	}
	// Fields under names of their own are compared by nobody and served.
	var b strings.Builder
	b.WriteString("{")
	for i := range 400 {
		fmt.Fprintf(&b, " a%d: __typename", i)
	}
	b.WriteString("}")
	if code, msg := post(t, url, map[string]any{"query": b.String()}); code != "" {
		t.Fatalf("400 aliases: %s %q", code, msg)
	}
}

// The cost counts what the executor will do: page sizes multiply the
// items they select, nodes(ids:) looks up each id, list arguments count
// their length, and each fragment is measured once.
func TestOperationCost(t *testing.T) {
	t.Parallel()
	schema := NewExecutableSchema(newConfig(&Resolver{})).Schema()
	ids := func(n int) string { return strings.TrimSuffix(strings.Repeat(`"x",`, n), ",") }
	for _, tc := range []struct {
		doc  string
		vars map[string]any
		want int
	}{
		{`{ __typename }`, nil, 1},
		{`{ projects { id name } }`, nil, 1 + LookupCost + 2},
		{`{ __type(name: "Query") { name } }`, nil, 2},
		{`{ __schema { types { name } } }`, nil, 0},
		{`{ project(id: "p") { id } }`, nil, 1 + LookupCost + 1},
		{`{ project(id: "p") { approvals(first: 5) { edges { node { id status } } totalCount } } }`, nil,
			1 + LookupCost + 1 + LookupCost + (1 + 5*(1+2)) + 1},
		{`query($n: Int) { project(id: "p") { approvals(last: $n) { edges { node { id } } } } }`, map[string]any{"n": json.Number("7")},
			1 + LookupCost + 1 + LookupCost + (1 + 7*(1+1))},
		// The default page, and a page past the maximum counted as the maximum.
		{`{ project(id: "p") { approvals { edges { cursor } } } }`, nil, 1 + LookupCost + 1 + LookupCost + (1 + 20*1)},
		{`{ project(id: "p") { keys(first: 100000) { edges { cursor } } } }`, nil, 1 + LookupCost + 1 + LookupCost + (1 + 100*1)},
		// A fragment on the connection gets the connection's page size.
		{`{ project(id: "p") { approvals(first: 3) { ...C } } } fragment C on ApprovalConnection { edges { cursor } }`, nil,
			1 + LookupCost + 1 + LookupCost + (1 + 3*1)},
		{`{ nodes(ids: [` + ids(100) + `]) { id } }`, nil, 1 + LookupCost + 100 + 100*NodeIDCost + 100*1},
		{`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []any{"a", "b", "c"}}, 1 + LookupCost + 3 + 3*NodeIDCost + 3*1},
		{`{ project(id: "p") { events(types: [APPROVAL_CREATED, PIN_FAILED], first: 1) { totalCount } } }`, nil,
			1 + LookupCost + 1 + LookupCost + 2 + 1},
		{`{ approvalLink(token: "t") { actions { key label } } }`, nil, 1 + LookupCost + 1 + 2},
		{`{ ...F } fragment F on Query { a: __typename b: __typename }`, nil, 2},
		{fragmentBomb(3, "__typename"), nil, 8},
		{fragmentBomb(200, "__typename"), nil, int(^uint(0) >> 1)},
	} {
		doc, err := gqlparser.LoadQuery(schema, tc.doc)
		if err != nil {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		if got := operationCost(schema, doc.Operations[0], tc.vars); got != tc.want {
			t.Errorf("%s: cost %d, want %d", tc.doc, got, tc.want)
		}
	}
}

// The limit holds for an operation seen before as for a new one, per
// operation of a document, and follows the variables.
func TestComplexityLimitOnRepeatedOperations(t *testing.T) {
	t.Parallel()
	url := newTestServer(t, HandlerOptions{})
	doc := `query Wide($ids: [ID!]!) { a: nodes(ids: $ids) { id } b: nodes(ids: $ids) { id } } query Narrow { __typename }`
	ids := func(n int) []string { return strings.Split(strings.Repeat("x ", n-1)+"x", " ") }
	cost := func(n int) int { return 2 * (1 + LookupCost + n + n*NodeIDCost + n) }
	for i := range 3 {
		code, msg := post(t, url, map[string]any{"query": doc, "operationName": "Wide", "variables": map[string]any{"ids": ids(100)}})
		if want := fmt.Sprintf("operation has complexity %d, which exceeds the limit of %d", cost(100), ComplexityLimit); code != "COMPLEXITY_LIMIT_EXCEEDED" || msg != want {
			t.Fatalf("Wide, 100 ids, try %d: %s %q", i, code, msg)
		}
		if cost(50) > ComplexityLimit {
			t.Fatalf("the limit moved: pick fewer ids")
		}
		if code, msg := post(t, url, map[string]any{"query": doc, "operationName": "Wide", "variables": map[string]any{"ids": ids(50)}}); code != "" {
			t.Fatalf("Wide, 50 ids, try %d: %s %q", i, code, msg)
		}
		if code, msg := post(t, url, map[string]any{"query": doc, "operationName": "Narrow"}); code != "" || msg != "map[__typename:Query]" {
			t.Fatalf("Narrow, try %d: %s %q", i, code, msg)
		}
	}
}
