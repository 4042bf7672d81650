package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// selected reports whether the operation asks, below the field being
// resolved, for the nested fields of path (e.g. "edges", "node",
// "pendingApproval"), so that a list resolver can load for all its
// elements at once what each would otherwise load on its own. Fragments
// count whatever their type condition (gqlgen's CollectFields with no
// types to satisfy), so a selection may be seen where it will not apply:
// the cost is a read made for nothing, never a field left unread.
func selected(ctx context.Context, path ...string) bool {
	_, found := selectionAt(ctx, path...)
	return found
}

// selectionAt is what the operation selects at path below the field being
// resolved (fragments included, merged), and whether it selects path at
// all.
func selectionAt(ctx context.Context, path ...string) (ast.SelectionSet, bool) {
	oc := graphql.GetOperationContext(ctx)
	set := graphql.GetFieldContext(ctx).Field.Selections
	for _, name := range path {
		var next ast.SelectionSet
		found := false
		for _, f := range graphql.CollectFields(oc, set, nil) {
			if f.Name == name {
				next, found = append(next, f.Selections...), true
			}
		}
		if !found {
			return nil, false
		}
		set = next
	}
	return set, true
}

// explicit reports whether the operation gave the field being resolved the
// argument name, rather than leaving it to its default: written in the
// document, or a variable the request sent.
func explicit(ctx context.Context, name string) bool {
	arg := graphql.GetFieldContext(ctx).Field.Arguments.ForName(name)
	if arg == nil {
		return false
	}
	if arg.Value.Kind != ast.Variable {
		return true
	}
	_, sent := graphql.GetOperationContext(ctx).Variables[arg.Value.Raw]
	return sent
}
