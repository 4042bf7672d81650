package main

import (
	"strings"
	"testing"
)

// eventID is gqlgen's resolution of a plain ID! field.
const eventID = `return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_Event_id(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.ID, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v string) graphql.Marshaler {
			return ec.marshalNID2string(ctx, selections, v)
		},
		true,
		true,
	)`

// approvalPinRequired is gqlgen's resolution of a plain Boolean! field.
var approvalPinRequired = strings.NewReplacer("Event_id", "Approval_pinRequired", "obj.ID", "obj.PinRequired",
	"v string", "v bool", "marshalNID2string", "marshalNBoolean2bool").Replace(eventID)

// eventType is gqlgen's resolution of a plain enum field.
var eventType = strings.NewReplacer("Event_id", "Event_type", "obj.ID", "obj.Type",
	"v string", "v model.EventType", "marshalNID2string", "marshalNEventType2githubᚗcomᚋottrᚋbackendᚋgraphᚋmodelᚐEventType").Replace(eventID)

// plainFields is gqlgen's code for four struct fields, an ID!, an enum, a
// Boolean! and a Time!, with their marshallers, as gqlgen writes them.
var plainFields = `func (ec *executionContext) _Event_id(ctx context.Context, field graphql.CollectedField, obj *model.Event) (ret graphql.Marshaler) {
	` + eventID + `
}
func (ec *executionContext) _Event_occurredAt(ctx context.Context, field graphql.CollectedField, obj *model.Event) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_Event_occurredAt(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.OccurredAt, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v time.Time) graphql.Marshaler {
			return ec.marshalNTime2timeᚐTime(ctx, selections, v)
		},
		true,
		true,
	)
}
func (ec *executionContext) _Approval_pinRequired(ctx context.Context, field graphql.CollectedField, obj *model.Approval) (ret graphql.Marshaler) {
	` + approvalPinRequired + `
}
func (ec *executionContext) _Event_type(ctx context.Context, field graphql.CollectedField, obj *model.Event) (ret graphql.Marshaler) {
	` + eventType + `
}
func (ec *executionContext) marshalNEventType2githubᚗcomᚋottrᚋbackendᚋgraphᚋmodelᚐEventType(ctx context.Context, sel ast.SelectionSet, v model.EventType) graphql.Marshaler {
	return v
}

func (ec *executionContext) marshalNBoolean2bool(ctx context.Context, sel ast.SelectionSet, v bool) graphql.Marshaler {
	_ = sel
	res := graphql.MarshalBoolean(v)
	if res == graphql.Null {
		graphql.AddInvalidNullFromMarshaler(ctx, "Boolean!")
	}
	return res
}

func (ec *executionContext) marshalNID2string(ctx context.Context, sel ast.SelectionSet, v string) graphql.Marshaler {
	_ = sel
	res := graphql.MarshalID(v)
	if res == graphql.Null {
		graphql.AddInvalidNullFromMarshaler(ctx, "ID!")
	}
	return res
}

func (ec *executionContext) marshalNTime2timeᚐTime(ctx context.Context, sel ast.SelectionSet, v time.Time) graphql.Marshaler {
	_ = sel
	res := graphql.MarshalTime(v)
	if res == graphql.Null {
		graphql.AddInvalidNullFromMarshaler(ctx, "Time!")
	}
	return res
}
`

const calls = `type executionContext struct {
	*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]
}
	fields := graphql.CollectFields(ec.OperationContext, sel, eventImplementors)
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, f)
	deferred := graphql.NewDeferredGroup(ctx)
	out.ResolveConcurrently(ec.OperationContext, &deferred, i, true, true, h)
	return graphql.ResolveField(ctx, ec.OperationContext, field)
	ret2 := graphql.MarshalSliceConcurrently(ctx, len(w), 0, false, g)
	return out
}
`

func TestRewriteReplacesEveryCall(t *testing.T) {
	out, err := rewrite([]byte(plainFields + calls))
	if err != nil {
		t.Fatal(err)
	}
	// The ID!, the enum and the Boolean! are read directly; the Time! too
	// unless it is zero, when resolveFieldValue gives the null's error the
	// field's path.
	want := strings.Replace(plainFields, eventID, `return (*stringValue)(&obj.ID)`, 1)
	want = strings.Replace(want, eventType, `return &obj.Type`, 1)
	want = strings.Replace(want, approvalPinRequired, `return ec.marshalNBoolean2bool(ctx, field.Selections, obj.PinRequired)`, 1)
	want = strings.Replace(want, "return graphql.ResolveField(", `if !obj.OccurredAt.IsZero() {
		return (*timeValue)(&obj.OccurredAt)
	}
	return resolveFieldValue(`, 1)
	want += `type executionContext struct {
	collected collectedFields // collectFields' cache
	*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]
}
	fields := collectFields(&ec.collected, ec.OperationContext, sel, eventImplementors)
	ret := marshalSliceConcurrently(ctx, len(v), 0, false, f)
	deferred := newDeferredGroup(ctx)
	resolveField(ctx, field, out, ec.OperationContext, &deferred, i, true, true, h)
	return resolveFieldValue(ctx, ec.OperationContext, field)
	ret2 := marshalSliceConcurrently(ctx, len(w), 0, false, g)
	return objectFields{fields, out}
}
`
	if string(out) != want {
		t.Fatalf("rewrote to\n%s\nwant\n%s", out, want)
	}
}

// A call gqlgen no longer writes stops generation instead of being
// silently skipped.
func TestRewriteRefusesAMissingCall(t *testing.T) {
	_, err := rewrite([]byte(plainFields + `deferred := graphql.NewDeferredGroup(ctx)`))
	if err == nil || !strings.Contains(err.Error(), "MarshalSliceConcurrently") {
		t.Fatalf("error %v, want one naming the missing call", err)
	}
	_, err = rewrite([]byte(calls))
	if err == nil || !strings.Contains(err.Error(), "plain field") {
		t.Fatalf("error %v, want one saying no plain field was found", err)
	}
}

// enum is gqlgen's marshalling of an enum, as models_gen.go has it.
const enum = `func (e EventType) MarshalGQL(w io.Writer) {
	_, _ = fmt.Fprint(w, strconv.Quote(e.String()))
}

func (e *EventType) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	return e.UnmarshalGQL(s)
}
`

func TestRewriteModelsWritesEnums(t *testing.T) {
	src := enum + strings.ReplaceAll(enum, "EventType", "ApprovalStatus")
	out, err := rewriteModels([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(src, "_, _ = fmt.Fprint(w, strconv.Quote(e.String()))", "writeEnum(w, e.String())")
	if string(out) != want {
		t.Fatalf("rewrote to\n%s\nwant\n%s", out, want)
	}
	if _, err := rewriteModels([]byte(want)); err == nil || !strings.Contains(err.Error(), "strconv.Quote") {
		t.Fatalf("error %v, want one naming the missing call", err)
	}
}
