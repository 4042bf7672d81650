package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Introspection (__schema, __type) is measured by its own limits instead of
// DepthLimit: the standard query of graphql-js and the tools built on it
// (GraphiQL, GraphQL Code Generator, Apollo, Postman, Insomnia) nests 15
// levels, most of them the ofType chain, which costs nothing past the
// schema's deepest wrapping. What does cost is walking from types to their
// fields' types and back to all of their fields; gqlparser's validation
// bounds that as graphql-js does (MaxIntrospectionDepth: fields,
// inputFields, interfaces and possibleTypes nest at most twice).
const (
	// IntrospectionDepthLimit caps the nesting inside one introspection
	// field, leaving room for tools that follow ofType further than
	// graphql-js does.
	IntrospectionDepthLimit = 30
	// IntrospectionSchemaLimit caps the __schema fields of one operation:
	// the widest walk of the schema that the other limits allow costs a few
	// standard introspection queries, and no tool sends more than one.
	IntrospectionSchemaLimit = 1
	// IntrospectionTypeLimit caps the __type fields of one operation, for
	// clients that look up a few types at once.
	IntrospectionTypeLimit = 5
)

// introspectionLimit refuses introspection beyond the limits above.
type introspectionLimit struct{}

var (
	_ graphql.HandlerExtension        = introspectionLimit{}
	_ graphql.OperationContextMutator = introspectionLimit{}
)

func (introspectionLimit) ExtensionName() string                   { return "IntrospectionLimit" }
func (introspectionLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (introspectionLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	roots := introspectionRoots(oc.Operation.SelectionSet, map[string]bool{}, nil)
	// Fields of one response key are merged into one and resolved once.
	keys := map[string]map[string]bool{"__schema": {}, "__type": {}}
	for _, f := range roots {
		keys[f.Name][f.Alias] = true
	}
	if n := len(keys["__schema"]); n > IntrospectionSchemaLimit {
		return limitExceeded("operation has %d __schema fields; the limit is %d", n, IntrospectionSchemaLimit)
	}
	if n := len(keys["__type"]); n > IntrospectionTypeLimit {
		return limitExceeded("operation has %d __type fields; the limit is %d", n, IntrospectionTypeLimit)
	}
	depths := newDepthWalk()
	for _, f := range roots {
		if depth := 1 + depths.depth(f.SelectionSet); depth > IntrospectionDepthLimit {
			return limitExceeded("introspection is nested %d levels deep; the limit is %d", depth, IntrospectionDepthLimit)
		}
	}
	return nil
}

// isIntrospectionField reports whether a root field is one of the
// introspection fields, which introspectionLimit measures instead of
// depthLimit.
func isIntrospectionField(name string) bool { return name == "__schema" || name == "__type" }

// introspectionRoots lists the operation's root introspection fields,
// looking through each fragment once (seen).
func introspectionRoots(set ast.SelectionSet, seen map[string]bool, out []*ast.Field) []*ast.Field {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if isIntrospectionField(s.Name) {
				out = append(out, s)
			}
		case *ast.InlineFragment:
			out = introspectionRoots(s.SelectionSet, seen, out)
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				out = introspectionRoots(s.Definition.SelectionSet, seen, out)
			}
		}
	}
	return out
}
