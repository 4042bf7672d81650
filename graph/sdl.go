package graph

import (
	"bytes"
	"strings"

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
	formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatSchema(s)
	return b.Bytes()
}
