// Command ottr-bench is Ottr's load tool: it runs the server (built from
// this module, as a child process, or in its own process) on a fresh
// database, drives it over real HTTP and websockets and, in the same run,
// measures a baseline that does only the irreducible part of the same
// work, then prints both and their ratio. See README.md and BENCHMARKS.md.
//
// Usage:
//
//	ottr-bench <scenario> [flags]
//	go run ./cmd/ottr-bench all -n 3 -json bench.json
//
// Run without arguments, it lists the scenarios and flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ottr/backend/internal/tools/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ottr-bench:", err)
		os.Exit(1)
	}
}
