package graph

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations nested deeper than max, which the
// complexity limit alone lets through when each level is cheap.
type depthLimit struct{ max int }

var (
	_ graphql.HandlerExtension        = depthLimit{}
	_ graphql.OperationContextMutator = depthLimit{}
)

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := newDepthWalk().depth(oc.Operation.SelectionSet); depth > d.max {
		return limitExceeded("operation is nested %d levels deep; the limit is %d", depth, d.max)
	}
	return nil
}

// depthWalk measures how deep selection sets nest, each fragment once: a
// fragment's depth does not depend on where it is spread, and walking it
// again at every spread costs exponential time in a document of fragments
// that spread each other twice.
type depthWalk struct{ memo map[string]int }

func newDepthWalk() depthWalk { return depthWalk{memo: map[string]int{}} }

// depth returns the number of levels of fields in set. The root
// introspection fields do not count: introspectionLimit measures them.
func (w depthWalk) depth(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if isIntrospectionField(s.Name) {
				continue
			}
			d = 1 + w.depth(s.SelectionSet)
		case *ast.InlineFragment:
			d = w.depth(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			var ok bool
			if d, ok = w.memo[s.Name]; !ok {
				w.memo[s.Name] = math.MaxInt / 2 // a cycle (refused by validation) is too deep
				d = w.depth(s.Definition.SelectionSet)
				w.memo[s.Name] = d
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
