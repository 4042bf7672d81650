package graph_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ottr/backend/graph"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// BenchmarkWorstAcceptedDocument serves, over real HTTP on each database,
// the most expensive documents of each kind that the cost limit lets
// through, and reports the server's CPU time per document (this process's:
// the server, and SQLite with it; PostgreSQL's own processes are not
// counted) beside the wall time.
func BenchmarkWorstAcceptedDocument(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			srv := testserver.Start(b, d)
			alice := srv.SignUp("Alice")
			pid := alice.CreateProject("p")
			for i := range 100 {
				alice.MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes", info: "Deploy?"}) { url } }`,
					map[string]any{"p": pid, "k": fmt.Sprintf("app/k%d", i)}, nil)
			}
			shapes := map[string]func() (string, map[string]any){
				// Unknown UUIDs: each is looked for in five tables.
				"nodes of unknown ids": func() (string, map[string]any) {
					// As many aliases of nodes(ids:) as fit, each with up to 100 ids.
					var q strings.Builder
					vars := map[string]any{}
					q.WriteString("query(")
					var sel strings.Builder
					for budget, i := graph.ComplexityLimit, 0; budget > 1+graph.LookupCost+(2+graph.NodeIDCost); i++ {
						n := min(100, (budget-1-graph.LookupCost)/(2+graph.NodeIDCost))
						ids := make([]any, n)
						for j := range ids {
							ids[j] = uuid.NewString()
						}
						vars[fmt.Sprint("ids", i)] = ids
						fmt.Fprintf(&q, " $ids%d: [ID!]!", i)
						fmt.Fprintf(&sel, " a%d: nodes(ids: $ids%d) { id }", i, i)
						budget -= 1 + graph.LookupCost + n*(2+graph.NodeIDCost)
					}
					return q.String() + ") {" + sel.String() + " }", vars
				},
				"root lookups": func() (string, map[string]any) {
					var q strings.Builder
					q.WriteString("query($p: ID!) {")
					for i := range graph.ComplexityLimit / (1 + graph.LookupCost + 1) {
						fmt.Fprintf(&q, " a%d: project(id: $p) { id }", i)
					}
					q.WriteString(" }")
					return q.String(), map[string]any{"p": pid}
				},
				"a page of approvals": func() (string, map[string]any) {
					return `query($p: ID!) { project(id: $p) { approvals(first: 100) { edges { cursor node { id status keyPath info createdAt expiresAt
						actions { key value label style } project { id name } } } pageInfo { hasNextPage endCursor } totalCount } } }`,
						map[string]any{"p": pid}
				},
			}
			for name, shape := range shapes {
				b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
					q, vars := shape()
					if r := alice.Do(q, vars); len(r.Errors) > 0 {
						b.Fatalf("%s: %+v", name, r.Errors)
					}
					var before, after syscall.Rusage
					_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
					start := time.Now()
					for b.Loop() {
						alice.Do(q, vars)
					}
					_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
					cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(b.N)
					b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/op")
					b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "wall-ms/op")
				})
			}
		})
	}
}
