package graph

import (
	"reflect"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// collectDoc selects a node's fields directly, through inline fragments on
// two of its types and on none, and through a named fragment with one of
// its own, some of them under @skip or @include with the operation's
// variables.
const collectDoc = `query($s: Boolean!, $i: Boolean!) {
  node(id: "x") {
    id
    ... on Approval { keyPath status @skip(if: $s) }
    ... on Event { type @include(if: $i) keyPath }
    ...nodeFields
    ... @include(if: $i) { again: id }
  }
  me @skip(if: $s) { id }
}
fragment nodeFields on Node { id @skip(if: $s) ... on Approval { status info } }`

// collectCase is one object marshalled: its selection set and the types
// its object satisfies.
type collectCase struct {
	name      string
	sel       ast.SelectionSet
	satisfies []string
}

func collectCases(op *ast.OperationDefinition) []collectCase {
	node := op.SelectionSet[0].(*ast.Field).SelectionSet
	return []collectCase{
		{"query", op.SelectionSet, queryImplementors},
		{"approval", node, approvalImplementors},
		{"event", node, eventImplementors},
		{"apiKey", node, apiKeyImplementors},
	}
}

// operation is an operation context for doc's first operation, as the
// handler makes one: its own for each request.
func operation(doc *ast.QueryDocument, vars map[string]any) *graphql.OperationContext {
	return &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: vars}
}

// gqlgens is what gqlgen's CollectFields answers, in an operation context of
// its own so that no cache of ours or of its can be in play.
func gqlgens(doc *ast.QueryDocument, vars map[string]any, c collectCase) []graphql.CollectedField {
	return graphql.CollectFields(operation(doc, vars), c.sel, c.satisfies)
}

func names(fields []graphql.CollectedField) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Alias)
	}
	return out
}

// collectFields answers what gqlgen's CollectFields answers, for every
// object type, through fragments and type conditions, under every value of
// the variables; asked again, it answers from its cache the same.
func TestCollectFieldsIsGqlgens(t *testing.T) {
	doc := gqlparser.MustLoadQuery(parsedSchema, collectDoc)
	for _, s := range []bool{false, true} {
		for _, i := range []bool{false, true} {
			vars := map[string]any{"s": s, "i": i}
			ec := newExecutionContext(operation(doc, vars), nil, nil)
			for range 2 {
				for _, c := range collectCases(doc.Operations[0]) {
					got := collectFields(&ec.collected, ec.OperationContext, c.sel, c.satisfies)
					if want := gqlgens(doc, vars, c); !reflect.DeepEqual(got, want) {
						t.Errorf("s=%v i=%v %s: %v, want %v", s, i, c.name, names(got), names(want))
					}
				}
			}
			if n := ec.collected.entries.Load().len(); n != 4 {
				t.Errorf("s=%v i=%v: %d entries cached, want 4", s, i, n)
			}
		}
	}
}

// The cache is the operation's: two operations of one document with other
// variables, or of another document, each get their own fields.
func TestCollectFieldsPerOperation(t *testing.T) {
	doc := gqlparser.MustLoadQuery(parsedSchema, collectDoc)
	other := gqlparser.MustLoadQuery(parsedSchema, `{ node(id: "y") { ... on Event { id occurredAt } } }`)
	skip, keep := map[string]any{"s": true, "i": false}, map[string]any{"s": false, "i": true}
	ops := []struct {
		doc  *ast.QueryDocument
		vars map[string]any
	}{{doc, skip}, {doc, keep}, {other, nil}}
	ecs := make([]*executionContext, len(ops))
	for k, op := range ops {
		ecs[k] = newExecutionContext(operation(op.doc, op.vars), nil, nil)
	}
	for round := range 2 {
		for k, op := range ops {
			for _, c := range collectCases(op.doc.Operations[0]) {
				got := collectFields(&ecs[k].collected, ecs[k].OperationContext, c.sel, c.satisfies)
				if want := gqlgens(op.doc, op.vars, c); !reflect.DeepEqual(got, want) {
					t.Errorf("round %d, operation %d, %s: %v, want %v", round, k, c.name, names(got), names(want))
				}
			}
		}
	}
	// The test means something only if the variables change the fields.
	approval := collectCases(doc.Operations[0])[1]
	if a, b := gqlgens(doc, skip, approval), gqlgens(doc, keep, approval); reflect.DeepEqual(names(a), names(b)) {
		t.Fatalf("same fields %v with either variables", names(a))
	}
}

// The goroutines of an operation (a list's elements) ask at once; each gets
// gqlgen's fields, and the cache ends with one entry per object's kind.
func TestCollectFieldsConcurrently(t *testing.T) {
	doc := gqlparser.MustLoadQuery(parsedSchema, collectDoc)
	vars := map[string]any{"s": false, "i": true}
	cases := collectCases(doc.Operations[0])
	want := make([][]graphql.CollectedField, len(cases))
	for k, c := range cases {
		want[k] = gqlgens(doc, vars, c)
	}
	ec := newExecutionContext(operation(doc, vars), nil, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 200 {
				k := (g + n) % len(cases)
				got := collectFields(&ec.collected, ec.OperationContext, cases[k].sel, cases[k].satisfies)
				if !reflect.DeepEqual(got, want[k]) {
					t.Errorf("%s: %v, want %v", cases[k].name, names(got), names(want[k]))
					return
				}
			}
		})
	}
	wg.Wait()
	if n := ec.collected.entries.Load().len(); n != len(cases) {
		t.Errorf("%d entries cached, want %d", n, len(cases))
	}
}

// Past maxCollected entries the cache grows no more and gqlgen answers.
func TestCollectFieldsBounded(t *testing.T) {
	doc := gqlparser.MustLoadQuery(parsedSchema, collectDoc)
	vars := map[string]any{"s": false, "i": false}
	node := collectCases(doc.Operations[0])[1]
	want := gqlgens(doc, vars, node)
	ec := newExecutionContext(operation(doc, vars), nil, nil)
	for n := range 2 * maxCollected {
		// Equal names in another slice: another key.
		satisfies := append([]string(nil), approvalImplementors...)
		got := collectFields(&ec.collected, ec.OperationContext, node.sel, satisfies)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("object %d: %v, want %v", n, names(got), names(want))
		}
	}
	if n := ec.collected.entries.Load().len(); n != maxCollected {
		t.Fatalf("%d entries cached, want %d", n, maxCollected)
	}
}

func BenchmarkCollectFields(b *testing.B) {
	doc := gqlparser.MustLoadQuery(parsedSchema, collectDoc)
	vars := map[string]any{"s": false, "i": true}
	cases := collectCases(doc.Operations[0])
	for _, f := range []struct {
		name    string
		collect func(*executionContext, collectCase) []graphql.CollectedField
	}{
		{"collectFields", func(ec *executionContext, c collectCase) []graphql.CollectedField {
			return collectFields(&ec.collected, ec.OperationContext, c.sel, c.satisfies)
		}},
		{"gqlgen", func(ec *executionContext, c collectCase) []graphql.CollectedField {
			return graphql.CollectFields(ec.OperationContext, c.sel, c.satisfies)
		}},
	} {
		b.Run(f.name, func(b *testing.B) {
			ec := newExecutionContext(operation(doc, vars), nil, nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for k := 0; pb.Next(); k++ {
					f.collect(ec, cases[k%len(cases)])
				}
			})
		})
	}
}
