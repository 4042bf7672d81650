package graph

import (
	"slices"

	"github.com/vektah/gqlparser/v2/ast"
)

// gqlparser's prelude (v2.5.64) follows the working draft of the GraphQL
// specification: @deprecated may also mark directive definitions, and
// __DirectiveLocation has the value DIRECTIVE_DEFINITION. The October 2021
// edition has neither, and clients built on it (graphql-core 3.2, which
// Python's gql uses) refuse to build a schema from an introspection result
// that names the unknown location. No directive of ours is deprecated, so
// the schema is served as that edition defines it.
func init() {
	toOctober2021(parsedSchema)
	withoutDefer(parsedSchema)
}

// withoutDefer removes @defer, which gqlparser declares for every schema.
// gqlgen runs deferred fragments, but its HTTP transports answer a
// deferred field with null (on non-null fields too) and hasNext: true,
// then nothing more; only its multipart transport sends the rest, in a
// draft format that logs request bodies on errors. A client that sees no
// @defer in the schema asks for everything at once; a document that uses
// it is refused by validation (GRAPHQL_VALIDATION_FAILED, "Unknown
// directive") before anything runs, instead of answering half.
func withoutDefer(s *ast.Schema) { delete(s.Directives, "defer") }

// draftLocations are the directive locations that the October 2021
// specification does not define.
var draftLocations = []ast.DirectiveLocation{"DIRECTIVE_DEFINITION"}

func toOctober2021(s *ast.Schema) {
	for _, d := range s.Directives {
		d.Locations = slices.DeleteFunc(d.Locations, func(l ast.DirectiveLocation) bool {
			return slices.Contains(draftLocations, l)
		})
	}
	if def := s.Types["__DirectiveLocation"]; def != nil {
		def.EnumValues = slices.DeleteFunc(def.EnumValues, func(v *ast.EnumValueDefinition) bool {
			return slices.Contains(draftLocations, ast.DirectiveLocation(v.Name))
		})
	}
}
