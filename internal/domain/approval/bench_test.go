package approval_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// The benchmarks run the real server on PostgreSQL behind a real HTTP
// listener, one request after another: each op is a full GraphQL round
// trip (client encoding, HTTP, handler, transaction, event, response).
//
//	go test -run '^$' -bench . -benchtime 2s -count 6 ./internal/domain/approval/

func benchServer(b *testing.B) (*testserver.Server, string, *testserver.Client) {
	if storetest.SQLiteOnly() {
		b.Skip("OTTR_TEST_SQLITE_ONLY=1: the benchmarks measure PostgreSQL")
	}
	srv := testserver.Start(b, store.Postgres)
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Bench")
	_, key := owner.CreateAPIKey(pid, "WRITE")
	return srv, pid, srv.Client(key)
}

func BenchmarkCreateApproval(b *testing.B) {
	_, pid, write := benchServer(b)
	input := map[string]any{"keyPath": "bench/deploy", "info": "Deploy to production?", "pin": "2468",
		"actions": []map[string]any{{"key": "approve", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
			{"key": "reject", "value": "rejected", "label": "Cancel", "style": "DANGER"}}}
	vars := map[string]any{"p": pid, "i": input}
	b.ResetTimer()
	for b.Loop() {
		write.MustDo(createMutation, vars, nil)
	}
}

func BenchmarkExecuteApproval(b *testing.B) {
	srv, pid, write := benchServer(b)
	anon := srv.Client("")
	// Links opened ahead, each from the client that executes it; a client
	// per address keeps within the per-IP limits without changing them.
	type ready struct {
		c            *testserver.Client
		token, nonce string
	}
	var links []ready
	prepare := func(n int) {
		for len(links) < n {
			c := anon.FromIP(clientIP(len(links) / approval.ExecuteBurst))
			for range approval.ExecuteBurst {
				var out struct{ CreateApproval created }
				write.MustDo(createMutation, map[string]any{"p": pid, "i": map[string]any{
					"keyPath": fmt.Sprintf("bench/%d", len(links)), "value": "approved", "pin": "2468"}}, &out)
				var l struct{ ApprovalLink link }
				c.MustDo(linkQuery, map[string]any{"t": out.CreateApproval.Token}, &l)
				links = append(links, ready{c, out.CreateApproval.Token, l.ApprovalLink.Nonce})
			}
		}
	}
	i := 0
	for b.Loop() {
		if i == len(links) {
			b.StopTimer()
			prepare(len(links) + 100)
			b.StartTimer()
		}
		l := links[i]
		i++
		l.c.MustDo(executeMutation, executeVars(l.token, l.nonce, "approve", ptr("2468")), nil)
	}
}

// BenchmarkListKeysWithPendingApprovals reads a page of 50 keys, each with
// a pending approval, asking for each key's pendingApproval.
func BenchmarkListKeysWithPendingApprovals(b *testing.B) {
	_, pid, write := benchServer(b)
	for i := range 50 {
		write.MustDo(createMutation, map[string]any{"p": pid, "i": map[string]any{
			"keyPath": fmt.Sprintf("bench/%02d", i), "value": "approved"}}, nil)
	}
	const q = `query($p: ID!) { project(id: $p) { keys(first: 50) { edges { node { path value pendingApproval { id status } } } } } }`
	vars := map[string]any{"p": pid}
	for b.Loop() {
		write.MustDo(q, vars, nil)
	}
}

// BenchmarkListApprovalsWithEvents reads a page of 20 approvals with their
// events and project.
func BenchmarkListApprovalsWithEvents(b *testing.B) {
	_, pid, write := benchServer(b)
	for i := range 20 {
		write.MustDo(createMutation, map[string]any{"p": pid, "i": map[string]any{
			"keyPath": fmt.Sprintf("bench/%02d", i), "value": "approved"}}, nil)
	}
	const q = `query($p: ID!) { project(id: $p) { approvals(first: 20) { edges { node { id status
		project { name } events { id type occurredAt } } } } } }`
	vars := map[string]any{"p": pid}
	for b.Loop() {
		write.MustDo(q, vars, nil)
	}
}

// BenchmarkReadApproval is the read scenario's request, approval(id) with a
// WRITE key, served by the server's root handler in this goroutine: no
// client, no network, so ns/op and allocs/op are the server's own (its
// queries' round trips to PostgreSQL included).
func BenchmarkReadApproval(b *testing.B) {
	srv, pid, write := benchServer(b)
	var out struct{ CreateApproval created }
	write.MustDo(createMutation, map[string]any{"p": pid, "i": map[string]any{
		"keyPath": "bench/read", "info": "Deploy to production?", "value": "approved"}}, &out)
	body := `{"query":"query($id: ID!) { approval(id: $id) { id keyPath info refId status createdAt expiresAt ` +
		`pinRequired maxPinAttempts failedPinAttempts actions { key value label style } ` +
		`executedAction { key value label style } executedAt invalidatedAt invalidationReason } }",` +
		`"variables":{"id":"` + out.CreateApproval.Approval.ID + `"}}`
	h := srv.App.Handler()
	secret := write.Token
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"keyPath":"bench/read"`) {
			b.Fatalf("approval(id): %d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time this process has used, user and system: the
// server's share of an op, where the wall time also holds PostgreSQL's.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
