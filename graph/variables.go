package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/platform/apperr"
)

// variableCheck holds variables to the input coercion of the GraphQL
// spec, where gqlparser (v2.5.64) is lenient: it takes a string that
// reads as a number for an Int or a Float ("600"), a number for a String,
// integers past 32 bits for an Int inside an input object, and enum values
// in any case. Clients decode to the type they declared, so such a value
// is a mistake to refuse, not to guess at.
//
// It runs once gqlparser has coerced the variables, which leaves every
// value as decoded (gqlgen's transports decode numbers as json.Number)
// except top-level Int and Float numbers, which it turns into int64 and
// float64.
type variableCheck struct{ schema *ast.Schema }

var (
	_ graphql.HandlerExtension        = (*variableCheck)(nil)
	_ graphql.OperationContextMutator = (*variableCheck)(nil)
)

func (*variableCheck) ExtensionName() string { return "VariableCheck" }

func (c *variableCheck) Validate(es graphql.ExecutableSchema) error {
	c.schema = es.Schema()
	return nil
}

func (c *variableCheck) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	for _, def := range oc.Operation.VariableDefinitions {
		v, ok := oc.Variables[def.Variable]
		if !ok {
			continue
		}
		if path, want := c.check(def.Type, v); want != "" {
			field := def.Variable
			for i := len(path) - 1; i >= 0; i-- {
				field += path[i]
			}
			got := jsonKind(find(v, path))
			if got == "a string" {
				got = "a string in another format" // a scalar that takes strings of one form
			}
			return badInput(field, fmt.Sprintf("variable $%s must be %s, not %s", field, want, got))
		}
	}
	// gqlparser accepts any literal for a custom scalar, and gqlgen parses
	// it only when it resolves the field: a bad Time would null the field's
	// parent. Literals are refused here, before anything runs, as
	// variables are.
	if field, want := c.literals(oc.Operation.SelectionSet, map[string]bool{}); want != "" {
		return badInput(field, fmt.Sprintf("argument %s must be %s", field, want))
	}
	return nil
}

func badInput(field, message string) *gqlerror.Error {
	gqlErr := gqlerror.Errorf("%s", message)
	errcode.Set(gqlErr, string(apperr.CodeBadUserInput))
	gqlErr.Extensions["field"] = field
	return gqlErr
}

// literals checks the custom scalars written in the arguments of the
// selections, looking through each fragment once (seen); it names the bad
// one as the client wrote it (input.actions[0].value) and says what it
// must be.
func (c *variableCheck) literals(set ast.SelectionSet, seen map[string]bool) (field, want string) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, arg := range s.Arguments {
				if path, want := c.literal(arg.Value); want != "" {
					field := arg.Name
					for i := len(path) - 1; i >= 0; i-- {
						field += path[i]
					}
					return field, want
				}
			}
			if field, want := c.literals(s.SelectionSet, seen); want != "" {
				return field, want
			}
		case *ast.InlineFragment:
			if field, want := c.literals(s.SelectionSet, seen); want != "" {
				return field, want
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if field, want := c.literals(s.Definition.SelectionSet, seen); want != "" {
					return field, want
				}
			}
		}
	}
	return "", ""
}

// literal checks one value as written: variables were checked as sent,
// the built-in scalars, enums and input objects by gqlparser's validation.
func (c *variableCheck) literal(v *ast.Value) (path []string, want string) {
	if v == nil {
		return nil, ""
	}
	switch v.Kind {
	case ast.Variable, ast.NullValue:
		return nil, ""
	case ast.ListValue, ast.ObjectValue:
		for i, child := range v.Children {
			if path, want := c.literal(child.Value); want != "" {
				if v.Kind == ast.ListValue {
					return append(path, "["+strconv.Itoa(i)+"]"), want
				}
				return append(path, "."+child.Name), want
			}
		}
		return nil, ""
	}
	if v.ExpectedType == nil || v.ExpectedType.Elem != nil {
		return nil, ""
	}
	// gqlparser's validation takes any literal for the schema's own scalars.
	name := v.ExpectedType.NamedType
	if def := c.schema.Types[name]; def == nil || def.Kind != ast.Scalar || def.BuiltIn {
		return nil, ""
	}
	if want, ok := literalWant[name]; ok && (v.Kind != ast.StringValue && v.Kind != ast.BlockValue || !scalarOK(name, v.Raw)) {
		return nil, want
	}
	return nil, ""
}

// literalWant says what a literal of each custom scalar must be.
var literalWant = map[string]string{
	"Time": "a Time, a string in RFC 3339 format such as \"2026-01-02T15:04:05Z\"",
}

// check returns what a value of type t must be when v is not that, and
// the path to the bad value, innermost first; want is "" when all is well.
func (c *variableCheck) check(t *ast.Type, v any) (path []string, want string) {
	if v == nil {
		return nil, "" // gqlparser refused a null where it is not allowed
	}
	if t.Elem != nil {
		// gqlparser made a list of one of a single value, typed as the value
		// ([]map[string]any for an object).
		items := reflect.ValueOf(v)
		if items.Kind() != reflect.Slice {
			return c.check(t.Elem, v)
		}
		for i := range items.Len() {
			if path, want := c.check(t.Elem, items.Index(i).Interface()); want != "" {
				return append(path, "["+strconv.Itoa(i)+"]"), want
			}
		}
		return nil, ""
	}
	def := c.schema.Types[t.NamedType]
	if def == nil {
		return nil, ""
	}
	switch def.Kind {
	case ast.Scalar:
		if !scalarOK(t.NamedType, v) {
			return nil, scalarWant[t.NamedType]
		}
	case ast.Enum:
		s, _ := v.(string)
		if def.EnumValues.ForName(s) == nil {
			return nil, "one of the values of " + def.Name + " (" + enumNames(def) + ")"
		}
	case ast.InputObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, "an object (" + def.Name + ")"
		}
		for _, f := range def.Fields {
			if item, ok := obj[f.Name]; ok {
				if path, want := c.check(f.Type, item); want != "" {
					return append(path, "."+f.Name), want
				}
			}
		}
	}
	return nil, ""
}

// scalarWant says what each scalar takes, for the refusal.
var scalarWant = map[string]string{
	"Int":     "an Int, a JSON integer from -2147483648 to 2147483647",
	"Float":   "a Float, a JSON number",
	"String":  "a String, a JSON string",
	"ID":      "an ID, a JSON string or integer",
	"Boolean": "a Boolean, true or false",
	"Time":    "a Time, a JSON string in RFC 3339 format such as \"2026-01-02T15:04:05Z\"",
}

// scalarOK reports whether v is a value of the scalar named name as the
// spec coerces input: Int takes only integers in 32 bits, Float numbers,
// String strings, ID strings and integers, Boolean booleans. Other scalars
// are left to their own unmarshalers.
func scalarOK(name string, v any) bool {
	switch name {
	case "Int":
		switch n := v.(type) {
		case json.Number:
			_, err := strconv.ParseInt(string(n), 10, 32)
			return err == nil
		case int64:
			return n >= math.MinInt32 && n <= math.MaxInt32
		case int:
			return n >= math.MinInt32 && n <= math.MaxInt32
		case float64: // from a decoder without UseNumber
			return n == math.Trunc(n) && n >= math.MinInt32 && n <= math.MaxInt32
		}
		return false
	case "Float":
		switch v.(type) {
		case json.Number, float64, int64, int:
			return true
		}
		return false
	case "String":
		_, ok := v.(string)
		return ok
	case "Time":
		s, ok := v.(string)
		if !ok {
			return false
		}
		// The scalar's own parser, so that what passes here parses later.
		_, err := graphql.UnmarshalTime(s)
		return err == nil
	case "ID":
		switch n := v.(type) {
		case string, int64, int:
			return true
		case json.Number:
			_, err := strconv.ParseInt(string(n), 10, 64)
			return err == nil
		case float64:
			return n == math.Trunc(n) && math.Abs(n) < 1<<53
		}
		return false
	case "Boolean":
		_, ok := v.(bool)
		return ok
	}
	return true
}

// find returns the value at path (innermost first) inside v.
func find(v any, path []string) any {
	for i := len(path) - 1; i >= 0; i-- {
		switch x := v.(type) {
		case map[string]any:
			v = x[strings.TrimPrefix(path[i], ".")]
		default:
			if items := reflect.ValueOf(x); items.Kind() == reflect.Slice {
				n, _ := strconv.Atoi(strings.Trim(path[i], "[]"))
				v = items.Index(n).Interface()
			}
		}
	}
	return v
}

// jsonKind names what v was sent as; of the client's values it repeats
// only a short number.
func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int64, int, float64:
		if n := fmt.Sprint(x); len(n) <= 40 {
			return "the number " + n
		}
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return "a value of another type"
}

func enumNames(def *ast.Definition) string {
	names := make([]string, len(def.EnumValues))
	for i, v := range def.EnumValues {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}
