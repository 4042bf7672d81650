package graph

import (
	"context"
	"strconv"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/surrogate"
)

// textCheck refuses an operation before any resolver runs when one of its
// field arguments holds text that no database should store: a NUL
// character or bytes that are not UTF-8 (apperr.TextProblemOf), in a literal or
// a variable, at any depth of an input object or list. The domain services
// check their inputs the same way for their other callers; this check
// covers every argument of the schema, IDs and cursors included, at once.
type textCheck struct{}

var (
	_ graphql.HandlerExtension        = textCheck{}
	_ graphql.OperationContextMutator = textCheck{}
)

func (textCheck) ExtensionName() string                   { return "TextCheck" }
func (textCheck) Validate(graphql.ExecutableSchema) error { return nil }

func (textCheck) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := textWalk{vars: oc.Variables, seen: map[string]bool{}, lone: -1}
	// gqlparser decodes an escaped lone surrogate in a string value to
	// U+FFFD; only the document as sent still tells it from the character.
	if at := surrogate.InGraphQL(oc.RawQuery); at >= 0 {
		w.lone = utf8.RuneCountInString(oc.RawQuery[:at]) // positions count runes
	}
	err := w.selections(oc.Operation.SelectionSet)
	if err == nil && w.lone >= 0 {
		// In a variable's default value or a directive's argument.
		err = apperr.TextLoneSurrogate.Refusal("query", "the query")
	}
	if err != nil {
		gqlErr := gqlerror.Errorf("%s", err.Message)
		errcode.Set(gqlErr, string(apperr.CodeBadUserInput))
		gqlErr.Extensions["field"] = err.Field
		return gqlErr
	}
	return nil
}

type textWalk struct {
	vars map[string]any
	seen map[string]bool // fragments walked already
	lone int             // rune offset in the document of a lone surrogate escape; -1: none
}

func (w textWalk) selections(set ast.SelectionSet) *apperr.Error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, arg := range s.Arguments {
				if path, p := w.literal(arg.Value); p != apperr.TextOK {
					return fieldError(arg.Name, path, p)
				}
			}
			if e := w.selections(s.SelectionSet); e != nil {
				return e
			}
		case *ast.InlineFragment:
			if e := w.selections(s.SelectionSet); e != nil {
				return e
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !w.seen[s.Name] {
				w.seen[s.Name] = true
				if e := w.selections(s.Definition.SelectionSet); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

// literal checks an argument's value as written, and the variables it
// uses as sent. On failure it returns the problem and the path to the bad
// text, innermost first, built only then: the check costs no allocation
// when all is well.
func (w textWalk) literal(v *ast.Value) ([]string, apperr.TextProblem) {
	if v == nil {
		return nil, apperr.TextOK
	}
	switch v.Kind {
	case ast.Variable:
		return checkValue(w.vars[v.Raw])
	case ast.StringValue, ast.BlockValue:
		if w.lone >= 0 && v.Position != nil && v.Position.Start <= w.lone && w.lone < v.Position.End {
			return nil, apperr.TextLoneSurrogate
		}
		return nil, apperr.TextProblemOf(v.Raw)
	case ast.ListValue, ast.ObjectValue:
		for i, child := range v.Children {
			if path, p := w.literal(child.Value); p != apperr.TextOK {
				if v.Kind == ast.ListValue {
					return append(path, "["+strconv.Itoa(i)+"]"), p
				}
				return append(path, "."+child.Name), p
			}
		}
	}
	return nil, apperr.TextOK
}

// checkValue checks every string in a variable's value as decoded.
func checkValue(v any) ([]string, apperr.TextProblem) {
	switch x := v.(type) {
	case string:
		return nil, apperr.TextProblemOf(x)
	case map[string]any:
		for k, item := range x {
			if path, p := checkValue(item); p != apperr.TextOK {
				return append(path, "."+k), p
			}
		}
	case []any:
		for i, item := range x {
			if path, p := checkValue(item); p != apperr.TextOK {
				return append(path, "["+strconv.Itoa(i)+"]"), p
			}
		}
	}
	return nil, apperr.TextOK
}

// fieldError names the bad text by its argument and the path inside it
// (innermost first), e.g. input.actions[0].label.
func fieldError(arg string, path []string, p apperr.TextProblem) *apperr.Error {
	field := arg
	for i := len(path) - 1; i >= 0; i-- {
		field += path[i]
	}
	return p.Refusal(field, "")
}
