package e2e_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/gcfloor"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// The dashboard's page: approvals with their project and events, and keys
// with their pending approvals, through the real server over HTTP, against
// a baseline that reads the same rows with the fewest statements behind a
// minimal net/http handler.
//
//	go test -run '^$' -bench ApprovalPage -benchmem -benchtime 2s -count 6 ./test/e2e/
func BenchmarkApprovalPage(b *testing.B) {
	if storetest.SQLiteOnly() {
		b.Skip("OTTR_TEST_SQLITE_ONLY=1: the benchmarks measure PostgreSQL")
	}
	// The process runs as cmd/ottr runs the server, with the collector's
	// heap floor as the environment sets it; the baseline, in the same
	// process, has it too. Without it the collector's pace follows whatever
	// else the test process holds on its heap.
	floor, err := config.GCHeapFloor(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	if floor > 0 {
		defer gcfloor.Start(floor)()
	}
	srv := testserver.Start(b, store.Postgres)
	owner := srv.SignUp("Bea")
	pid := owner.CreateProject("Bench")
	_, secret := owner.CreateAPIKey(pid, "WRITE")
	script := srv.Client(secret)
	for i := range 100 {
		script.MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes", initialValue: "no"}) { approval { id } } }`,
			map[string]any{"p": pid, "k": fmt.Sprintf("svc/%03d", i)}, nil)
	}
	const query = `query($p: ID!, $n: Int!) { project(id: $p) {
		approvals(first: $n) { edges { node { id keyPath project { id name } events { id type } } } }
		keys(first: $n) { edges { node { path pendingApproval { id } } } } } }`
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("graphql/n=%d", n), func(b *testing.B) {
			body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"p": pid, "n": n}})
			for b.Loop() {
				postPage(b, srv.URL+"/query", owner.AccessToken, body)
			}
		})
		b.Run(fmt.Sprintf("baseline/n=%d", n), func(b *testing.B) {
			ts := httptest.NewServer(baselinePage(srv.App.Store.SQL()))
			defer ts.Close()
			body, _ := json.Marshal(map[string]any{"p": pid, "n": n})
			for b.Loop() {
				postPage(b, ts.URL, "", body)
			}
		})
	}
}

// postPage is each side's client, the same for both: it posts body, reads
// the whole answer and checks it is a page, without decoding it, so that
// the client's own work weighs the same on both sides.
func postPage(b *testing.B, url, token string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	answer, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || bytes.Contains(answer, []byte(`"errors"`)) || len(answer) < 200 {
		b.Fatalf("page: %d %v: %.300s", resp.StatusCode, err, answer)
	}
}

// baselinePage reads the page's rows in five statements and writes them
// as JSON: no authentication, authorization or GraphQL.
func baselinePage(db *sql.DB) http.Handler {
	type event struct{ ID, Type string }
	type approvalRow struct {
		ID, KeyPath string
		Events      []event
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			P string
			N int
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		fail := func(err error) { http.Error(w, err.Error(), http.StatusInternalServerError) }
		var project struct{ ID, Name string }
		if err := db.QueryRowContext(ctx, `SELECT id, name FROM projects WHERE id = $1`, in.P).Scan(&project.ID, &project.Name); err != nil {
			fail(err)
			return
		}
		rows, err := db.QueryContext(ctx, `SELECT id, key_path FROM approvals WHERE project_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, in.P, in.N)
		if err != nil {
			fail(err)
			return
		}
		var approvals []*approvalRow
		byID := map[string]*approvalRow{}
		var ids []string
		for rows.Next() {
			a := &approvalRow{}
			if err := rows.Scan(&a.ID, &a.KeyPath); err != nil {
				fail(err)
				return
			}
			approvals, byID[a.ID], ids = append(approvals, a), a, append(ids, a.ID)
		}
		_ = rows.Close()
		rows, err = db.QueryContext(ctx, `SELECT id, type, approval_id FROM events WHERE approval_id = ANY($1) ORDER BY id`, ids)
		if err != nil {
			fail(err)
			return
		}
		for rows.Next() {
			var e event
			var approvalID string
			if err := rows.Scan(&e.ID, &e.Type, &approvalID); err != nil {
				fail(err)
				return
			}
			byID[approvalID].Events = append(byID[approvalID].Events, e)
		}
		_ = rows.Close()
		rows, err = db.QueryContext(ctx, `SELECT path FROM key_values WHERE project_id = $1 ORDER BY path LIMIT $2`, in.P, in.N)
		if err != nil {
			fail(err)
			return
		}
		var paths []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				fail(err)
				return
			}
			paths = append(paths, p)
		}
		_ = rows.Close()
		rows, err = db.QueryContext(ctx, `SELECT DISTINCT ON (key_path) key_path, id FROM approvals
			WHERE project_id = $1 AND key_path = ANY($2) AND status = 'PENDING' AND expires_at > $3 ORDER BY key_path, created_at DESC`, in.P, paths, time.Now())
		if err != nil {
			fail(err)
			return
		}
		pending := map[string]string{}
		for rows.Next() {
			var path, id string
			if err := rows.Scan(&path, &id); err != nil {
				fail(err)
				return
			}
			pending[path] = id
		}
		_ = rows.Close()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"project": project, "approvals": approvals, "pending": pending})
	})
}
