package graph

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
)

// LookupCost is what a field that reads or writes the database costs on
// top of the 1 every field costs: a root field, a field with arguments (a
// page, a key by its path) and each id of nodes(ids:). A lookup costs the
// server about as much as a hundred fields copied from memory.
const LookupCost = 10

// NodeIDCost is what each id of nodes(ids:) costs: an unknown UUID is
// looked for in five tables, so at LookupCost the worst nodes document
// the limit admits took more than 50 ms of CPU (BENCHMARKS.md). It moves
// with ComplexityLimit, to keep that document's number of ids about the
// same. 100 ids selecting one field still fit.
const NodeIDCost = 19

// complexityLimit refuses operations that cost more than max, before any
// resolver runs. The cost is an upper bound of what the executor will do:
// every field costs 1, a lookup LookupCost more, the items of a page
// their cost once per item (the page's size from first or last, or the
// connection's default), nodes(ids:) a lookup and its selection per id,
// and every list argument its length. gqlgen's complexity.Calculate walks a fragment again at every
// spread, which a few hundred bytes of fragments spreading each other
// twice turn into billions of steps; this walk measures each fragment
// once, so its time is linear in the document's size. The cost depends on
// the variables (first: $n), so it is computed for every request.
type complexityLimit struct {
	max    int
	schema *ast.Schema
}

var (
	_ graphql.HandlerExtension        = (*complexityLimit)(nil)
	_ graphql.OperationContextMutator = (*complexityLimit)(nil)
)

func newComplexityLimit(max int) *complexityLimit { return &complexityLimit{max: max} }

func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.schema = es.Schema()
	return nil
}

func (c *complexityLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if n := operationCost(c.schema, oc.Operation, oc.Variables); n > c.max {
		return limitExceeded("operation has complexity %d, which exceeds the limit of %d", n, c.max)
	}
	return nil
}

// operationCost is the cost of op with vars (see complexityLimit).
func operationCost(schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any) int {
	w := costWalk{schema: schema, vars: vars, memo: map[fragmentAt]int{}}
	return w.set(op.SelectionSet, 0)
}

type costWalk struct {
	schema *ast.Schema
	vars   map[string]any
	memo   map[fragmentAt]int
}

// fragmentAt is a fragment measured with the page size of the connection
// it was spread in (0 outside a connection): the only context its cost
// depends on.
type fragmentAt struct {
	name string
	size int
}

// set is the cost of a selection set; size is the page size of the
// connection it selects from, which its list fields (edges) have.
func (w costWalk) set(set ast.SelectionSet, size int) int {
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			total = addCost(total, w.field(s, size))
		case *ast.InlineFragment:
			total = addCost(total, w.set(s.SelectionSet, size))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			key := fragmentAt{s.Name, size}
			n, ok := w.memo[key]
			if !ok {
				w.memo[key] = math.MaxInt // a cycle (refused by validation) costs everything
				n = w.set(s.Definition.SelectionSet, size)
				w.memo[key] = n
			}
			total = addCost(total, n)
		}
	}
	return total
}

func (w costWalk) field(f *ast.Field, size int) int {
	if f.Definition == nil || f.Name == "__schema" {
		return 0 // introspectionLimit measures it
	}
	cost := 1
	if !strings.HasPrefix(f.Name, "__") && (isRoot(w.schema, f.ObjectDefinition) || len(f.Definition.Arguments) > 0) {
		cost += LookupCost
	}
	for _, arg := range f.Arguments {
		cost = addCost(cost, w.listLength(arg.Value))
	}
	def := w.schema.Types[f.Definition.Type.Name()]
	if def == nil || (def.Kind != ast.Object && def.Kind != ast.Interface && def.Kind != ast.Union) {
		return cost
	}
	children := w.set(f.SelectionSet, w.pageSize(f))
	if f.Definition.Type.Elem == nil {
		return addCost(cost, children)
	}
	// A list outside a connection (projects, an approval's actions and
	// events, the deprecated lists that connections replaced) counts its
	// children once: its length is the data's, which no request chooses,
	// and its elements' own lookups are batched by the loaders.
	elems := max(size, 1)
	if f.Name == "nodes" && f.ObjectDefinition == w.schema.Query {
		elems = w.length(f.Arguments.ForName("ids"))
		cost = addCost(cost, mulCost(elems, NodeIDCost))
	}
	return addCost(cost, mulCost(elems, children))
}

// pageSize is how many items a connection field returns: first or last,
// else its default; 0 for a field that pages nothing. A size past
// page.MaxSize counts as page.MaxSize: the resolver refuses it with a
// better message than the limit's.
func (w costWalk) pageSize(f *ast.Field) int {
	if f.Definition.Arguments.ForName("first") == nil {
		return 0
	}
	for _, name := range []string{"first", "last"} {
		if n, ok := w.intArg(f.Arguments.ForName(name)); ok {
			return min(max(n, 0), page.MaxSize)
		}
	}
	if n, ok := defaultPageSizes[f.ObjectDefinition.Name+"."+f.Name]; ok {
		return n
	}
	return page.MaxSize
}

// defaultPageSizes are the connections whose default page is smaller than
// page.MaxSize.
var defaultPageSizes = map[string]int{
	"Project.approvals":           approval.DefaultPageSize,
	"Project.keys":                approval.DefaultKeysPageSize,
	"Project.events":              event.DefaultPageSize,
	"Approval.eventsConnection":   event.DefaultPageSize,
	"Project.deliveries":          notify.DefaultDeliveriesPageSize,
	"SlackChannel.deliveries":     notify.DefaultDeliveriesPageSize,
	"WebhookEndpoint.deliveries":  notify.DefaultDeliveriesPageSize,
	"Approval.callbackDeliveries": notify.DefaultDeliveriesPageSize,
}

func isRoot(schema *ast.Schema, def *ast.Definition) bool {
	return def == schema.Query || def == schema.Mutation || def == schema.Subscription
}

// intArg is an argument's integer value, written or from a variable.
func (w costWalk) intArg(arg *ast.Argument) (int, bool) {
	if arg == nil || arg.Value == nil {
		return 0, false
	}
	var v any = arg.Value.Raw
	switch arg.Value.Kind {
	case ast.Variable:
		v = w.vars[arg.Value.Raw]
	case ast.IntValue:
	default:
		return 0, false
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		return int(x), true
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return page.MaxSize, true // too large for an int: the resolver refuses it
	}
	return n, true
}

// length is how many elements an argument's list holds.
func (w costWalk) length(arg *ast.Argument) int {
	if arg == nil || arg.Value == nil {
		return 0
	}
	if arg.Value.Kind == ast.Variable {
		if l, ok := w.vars[arg.Value.Raw].([]any); ok {
			return len(l)
		}
		return 1 // a single value stands for a list of one
	}
	if arg.Value.Kind == ast.ListValue {
		return len(arg.Value.Children)
	}
	return 1
}

// listLength is the number of elements of the lists in a value, at any
// depth, written or from variables.
func (w costWalk) listLength(v *ast.Value) int {
	if v == nil {
		return 0
	}
	switch v.Kind {
	case ast.Variable:
		return valueListLength(w.vars[v.Raw])
	case ast.ListValue, ast.ObjectValue:
		n := 0
		if v.Kind == ast.ListValue {
			n = len(v.Children)
		}
		for _, c := range v.Children {
			n = addCost(n, w.listLength(c.Value))
		}
		return n
	}
	return 0
}

func valueListLength(v any) int {
	n := 0
	switch x := v.(type) {
	case []any:
		n = len(x)
		for _, item := range x {
			n = addCost(n, valueListLength(item))
		}
	case map[string]any:
		for _, item := range x {
			n = addCost(n, valueListLength(item))
		}
	}
	return n
}

// addCost and mulCost saturate at math.MaxInt instead of overflowing, so
// no document wraps around to a small cost.
func addCost(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func mulCost(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}

// limitExceeded is the error of every cost limit.
func limitExceeded(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, string(apperr.CodeComplexityLimitExceeded))
	return err
}
