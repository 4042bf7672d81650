// Command gqlgenlists runs after gqlgen (go generate in graph/): it points
// the generated code's lists of objects at the graph package's
// marshalSliceConcurrently, which runs their elements on reused goroutines
// (graph/slices.go says why), instead of gqlgen's, which starts a
// goroutine per element. gqlgen's templates offer no hook for it.
//
//	go run ./internal/tools/gqlgenlists generated.go
package main

import (
	"bytes"
	"fmt"
	"os"
)

// gqlgenCall is how gqlgen's template calls its function, and ours is the
// replacement with the same parameters.
var (
	gqlgenCall = []byte("graphql.MarshalSliceConcurrently(")
	ours       = []byte("marshalSliceConcurrently(")
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlgenlists <generated.go>")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gqlgenlists:", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, n := replace(src)
	if n == 0 {
		// gqlgen changed its template: better to stop than to keep its
		// goroutine per element without anyone knowing.
		return fmt.Errorf("%s: no call of %s to rewrite", path, gqlgenCall)
	}
	return os.WriteFile(path, out, 0o644)
}

// replace rewrites every call of gqlgen's function in src and says how many
// it rewrote.
func replace(src []byte) ([]byte, int) {
	return bytes.ReplaceAll(src, gqlgenCall, ours), bytes.Count(src, gqlgenCall)
}
