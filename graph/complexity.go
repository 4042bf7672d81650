package graph

import (
	"context"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit refuses operations whose complexity passes max, as
// gqlgen's FixedComplexityLimit does, but walks each operation once: the
// walk builds every field's argument map, a tenth of the executor's
// allocations on a small query.
//
// The schema has no complexity functions (newConfig sets none), so every field costs one plus its children and an
// operation's complexity depends on its document alone, never on the
// variables. The cache is keyed by the parsed document, which gqlgen's
// query cache hands out once per query text, and the operation's name.
// Should a field get a complexity function that reads its arguments, the
// variables would have to join the key.
type complexityLimit struct {
	max   int
	es    graphql.ExecutableSchema
	known *lru.Cache[operationKey, int]
}

type operationKey struct {
	doc  *ast.QueryDocument
	name string
}

var (
	_ graphql.HandlerExtension        = (*complexityLimit)(nil)
	_ graphql.OperationContextMutator = (*complexityLimit)(nil)
)

func newComplexityLimit(max, size int) *complexityLimit {
	known, err := lru.New[operationKey, int](size)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &complexityLimit{max: max, known: known}
}

func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	key := operationKey{oc.Doc, oc.OperationName}
	n, ok := c.known.Get(key)
	if !ok {
		n = complexity.Calculate(ctx, c.es, oc.Doc.Operations.ForName(oc.OperationName), oc.Variables)
		c.known.Add(key, n)
	}
	if n > c.max {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", n, c.max)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}
