package graph

import (
	"bytes"
	"maps"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// SDL is the schema in the GraphQL schema language, as served at
// GET /schema.graphql: every type with its descriptions in one document,
// starting with the schema's own description (the error codes).
func SDL() []byte {
	s := NewExecutableSchema(Config{}).Schema()
	var b bytes.Buffer
	if s.Description != "" {
		b.WriteString(`"""` + "\n" + strings.ReplaceAll(s.Description, `"""`, `\"""`) + "\n" + `"""` + "\n")
		b.WriteString("schema {\n  query: " + s.Query.Name)
		if s.Mutation != nil {
			b.WriteString("\n  mutation: " + s.Mutation.Name)
		}
		if s.Subscription != nil {
			b.WriteString("\n  subscription: " + s.Subscription.Name)
		}
		b.WriteString("\n}\n\n")
	}
	f := formatter.NewFormatter(&b, formatter.WithIndent("  "))
	f.FormatSchema(s)
	// The formatter leaves out gqlparser's built-in directives; those that
	// the GraphQL specification does not define are the server's
	// own and must be declared for other tools to read the document.
	var own ast.SchemaDocument
	for _, name := range slices.Sorted(maps.Keys(s.Directives)) {
		d := s.Directives[name]
		if builtIn := d.Position != nil && d.Position.Src != nil && d.Position.Src.BuiltIn; builtIn && !specifiedDirectives[name] {
			declared := *d
			declared.Position = nil
			own.Directives = append(own.Directives, &declared)
		}
	}
	f.FormatSchemaDocument(&own)
	return b.Bytes()
}

// specifiedDirectives are those every GraphQL implementation knows.
var specifiedDirectives = map[string]bool{"skip": true, "include": true, "deprecated": true, "specifiedBy": true, "oneOf": true}
