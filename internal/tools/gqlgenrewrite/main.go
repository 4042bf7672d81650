// Command gqlgenrewrite runs after gqlgen (go generate in graph/): it
// points calls in the generated code at functions of the graph package
// with the same parameters (for a method, with its receiver and what the
// caller has in scope before them), where gqlgen's own do work this server
// does not need (graph/executor.go says what and why). gqlgen's templates
// offer no hook for it.
//
//	go run ./internal/tools/gqlgenrewrite generated.go
package main

import (
	"bytes"
	"fmt"
	"os"
)

// rewrites are the calls as gqlgen's templates write them, and what they
// become.
var rewrites = []struct{ gqlgen, ours string }{
	{"graphql.MarshalSliceConcurrently(", "marshalSliceConcurrently("},
	{"graphql.NewDeferredGroup(", "newDeferredGroup("},
	{"return graphql.ResolveField(", "return resolveFieldValue("},
	// The end of every object's marshalling, where fields is in scope.
	{"\n\treturn out\n}\n", "\n\treturn objectFields{fields, out}\n}\n"},
	{"out.ResolveConcurrently(ec.OperationContext, &deferred,", "resolveField(ctx, field, out, ec.OperationContext, &deferred,"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlgenrewrite <generated.go>")
		os.Exit(2)
	}
	if err := rewriteFile(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gqlgenrewrite:", err)
		os.Exit(1)
	}
}

func rewriteFile(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := rewrite(src)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// rewrite replaces every call of each rewrite. A call found nowhere means
// gqlgen changed its templates: better to stop than to let gqlgen's
// function come back unnoticed.
func rewrite(src []byte) ([]byte, error) {
	for _, r := range rewrites {
		if !bytes.Contains(src, []byte(r.gqlgen)) {
			return nil, fmt.Errorf("no call of %s to rewrite", r.gqlgen)
		}
		src = bytes.ReplaceAll(src, []byte(r.gqlgen), []byte(r.ours))
	}
	return src, nil
}
