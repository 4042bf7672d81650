package graph

import (
	"context"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/apperr"
)

// textCheck refuses an operation before any resolver runs when one of its
// field arguments holds text that no database should store: a NUL
// character or bytes that are not UTF-8 (apperr.CheckText), in a literal or
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
	w := textWalk{vars: oc.Variables, seen: map[string]bool{}}
	if err := w.selections(oc.Operation.SelectionSet); err != nil {
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
}

func (w textWalk) selections(set ast.SelectionSet) *apperr.Error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, arg := range s.Arguments {
				if arg.Value == nil {
					continue
				}
				v, err := arg.Value.Value(w.vars)
				if err != nil {
					continue // validation reports it
				}
				if e := checkValue(arg.Name, v); e != nil {
					return e
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

// checkValue checks every string in v, an argument's value as decoded;
// field names it by its argument or input field (and list index).
func checkValue(field string, v any) *apperr.Error {
	switch x := v.(type) {
	case string:
		if err := apperr.CheckText(field, x); err != nil {
			e, _ := apperr.As(err)
			return e
		}
	case map[string]any:
		for k, item := range x {
			if e := checkValue(field+"."+k, item); e != nil {
				return e
			}
		}
	case []any:
		for i, item := range x {
			if e := checkValue(field+"["+strconv.Itoa(i)+"]", item); e != nil {
				return e
			}
		}
	}
	return nil
}
