package main

import (
	"strings"
	"testing"
)

func TestRewriteReplacesEveryCall(t *testing.T) {
	src := `ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, f)
	deferred := graphql.NewDeferredGroup(ctx)
	out.ResolveConcurrently(ec.OperationContext, &deferred, i, true, true, h)
	return graphql.ResolveField(ctx, ec.OperationContext, field)
	ret2 := graphql.MarshalSliceConcurrently(ctx, len(w), 0, false, g)
	return out
}
`
	out, err := rewrite([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := `ret := marshalSliceConcurrently(ctx, len(v), 0, false, f)
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
	_, err := rewrite([]byte(`deferred := graphql.NewDeferredGroup(ctx)`))
	if err == nil || !strings.Contains(err.Error(), "MarshalSliceConcurrently") {
		t.Fatalf("error %v, want one naming the missing call", err)
	}
}
