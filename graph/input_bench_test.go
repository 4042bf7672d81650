package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/ottr/backend/internal/platform/apperr"
)

// The operation a script sends most: createApproval with every text
// field set, as variables.
const benchCreateApproval = `mutation($p: ID!, $i: CreateApprovalInput!) {
  createApproval(projectId: $p, input: $i) { url approval { id status expiresAt } }
}`

var benchVars = map[string]any{
	"p": "0f8e4c1a-8d6b-4f7e-9a51-3c2d1b0e9f77",
	"i": map[string]any{
		"keyPath": "myapp/deploy/production", "info": "Deploy build 4711 of myapp to production? Changes: 12 commits by 3 authors.",
		"refId": "ci-run-98765", "initialValue": "pending", "pin": "482915", "ttlSeconds": 600,
		"actions": []any{
			map[string]any{"key": "approve", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
			map[string]any{"key": "reject", "value": "rejected", "label": "Cancel", "style": "DANGER"},
		},
	},
}

// BenchmarkTextCheck is the NUL and UTF-8 check of one createApproval
// operation, against the irreducible work: apperr.CheckText over each of
// its 11 strings, found without walking anything.
func BenchmarkTextCheck(b *testing.B) {
	schema := NewExecutableSchema(newConfig(&Resolver{})).Schema()
	doc := gqlparser.MustLoadQuery(schema, benchCreateApproval)
	vars, err := validator.VariableValues(schema, doc.Operations[0], benchVars)
	if err != nil {
		b.Fatal(err)
	}
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: vars}
	in := vars["i"].(map[string]any)
	strs := []string{vars["p"].(string), in["keyPath"].(string), in["info"].(string), in["refId"].(string),
		in["initialValue"].(string), in["pin"].(string)}
	for _, a := range in["actions"].([]any) {
		m := a.(map[string]any)
		strs = append(strs, m["key"].(string), m["value"].(string), m["label"].(string))
	}
	ctx := context.Background()
	b.Run("textCheck", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := (textCheck{}).MutateOperationContext(ctx, oc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range strs {
				if err := apperr.CheckText("f", s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
