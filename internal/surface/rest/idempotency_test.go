package rest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// approvalIDs lists the project's approvals of a key path, through GraphQL.
func (f *fixture) approvalIDs(keyPath string) []string {
	f.t.Helper()
	var out struct {
		Project struct {
			Approvals struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
	}
	f.owner.MustDo(`query($p: ID!, $k: String!) { project(id: $p) { approvals(filter: {keyPrefix: $k}, first: 100) { edges { node { id } } } } }`,
		map[string]any{"p": f.pid, "k": keyPath}, &out)
	var ids []string
	for _, e := range out.Project.Approvals.Edges {
		ids = append(ids, e.Node.ID)
	}
	return ids
}

// Concurrent requests with one Idempotency-Key create one approval, and
// every one of them gets the first one's answer: the same status and bytes.
func TestIdempotentReplayUnderConcurrency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		const n = 12
		body := `{"key_path": "deploy/web/run-9", "actions": [{"key": "deploy", "value": "approved"}, {"key": "cancel", "value": "rejected"}], "ttl_seconds": 1800}`
		replies := make([]reply, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				replies[i] = do(t, f.srv.URL, "POST", "/v1/approvals", f.write, body, "Idempotency-Key", "gh-run-9")
			})
		}
		close(start)
		wg.Wait()
		replayed := 0
		for i, r := range replies {
			if r.Status != http.StatusCreated {
				t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
			}
			if !bytes.Equal(r.Body, replies[0].Body) {
				t.Fatalf("request %d answered\n%s\nrequest 0\n%s", i, r.Body, replies[0].Body)
			}
			if r.Header.Get("Idempotent-Replayed") == "true" {
				replayed++
			}
		}
		if replayed != n-1 {
			t.Errorf("%d answers marked replayed, want %d", replayed, n-1)
		}
		ids := f.approvalIDs("deploy/web/run-9")
		if len(ids) != 1 {
			t.Fatalf("%d approvals created, want 1", len(ids))
		}
		var c created
		replies[0].decode(t, http.StatusCreated, &c)
		if c.ID != ids[0] {
			t.Fatalf("answered %s, created %s", c.ID, ids[0])
		}
		// The replayed link is the real one.
		if st := f.execute(c.URL, "deploy", ""); st != http.StatusOK {
			t.Fatalf("executing the link: %d", st)
		}
		// Later repeats still answer the same, after the decision too.
		again := f.do("POST", "/v1/approvals", f.write, body, "Idempotency-Key", "gh-run-9")
		if again.Status != http.StatusCreated || !bytes.Equal(again.Body, replies[0].Body) {
			t.Fatalf("a later repeat answered %d %s", again.Status, again.Body)
		}
		// The key is the project's: another key of the project replays it.
		_, other := f.owner.CreateAPIKey(f.pid, "WRITE")
		if r := f.do("POST", "/v1/approvals", other, body, "Idempotency-Key", "gh-run-9"); !bytes.Equal(r.Body, replies[0].Body) {
			t.Fatalf("another key of the project answered %d %s", r.Status, r.Body)
		}
		// Another project's key is another scope.
		elsewhere := newFixture(t, f.srv, f.clock)
		var c2 created
		elsewhere.do("POST", "/v1/approvals", elsewhere.write, body, "Idempotency-Key", "gh-run-9").decode(t, http.StatusCreated, &c2)
		if c2.ID == c.ID || c2.URL == c.URL {
			t.Fatal("another project replayed this project's approval")
		}
		// After 24 h the key is free: the same request creates anew.
		f.clock.Advance(24*time.Hour + time.Minute)
		var c3 created
		f.do("POST", "/v1/approvals", f.write, body, "Idempotency-Key", "gh-run-9").decode(t, http.StatusCreated, &c3)
		if c3.ID == c.ID || c3.URL == c.URL {
			t.Fatal("a key past its window replayed the old approval")
		}
	})
}

// A refused create is not remembered: the same key may be sent again once
// the request is right. No link token is stored, only its hash.
func TestIdempotencyKeyAfterRefusal(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "x", "ttl_seconds": 1}`, "Idempotency-Key", "k1").
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "ttl_seconds")
		f.do("POST", "/v1/approvals", f.read, `{"key_path": "a", "value": "x"}`, "Idempotency-Key", "k1").
			expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		var c created
		f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "x"}`, "Idempotency-Key", "k1").decode(t, http.StatusCreated, &c)

		token := c.URL[strings.LastIndex(c.URL, "/a/")+3:]
		var found int64
		db := f.srv.App.Store.DB(context.Background())
		for _, q := range []string{
			"SELECT COUNT(*) FROM idempotency_keys WHERE link_seed = ? OR fingerprint = ?",
			"SELECT COUNT(*) FROM approvals WHERE token_hash = ? OR token_hash = ?",
		} {
			if err := db.Raw(q, token, token).Scan(&found).Error; err != nil {
				t.Fatal(fmt.Errorf("%s: %w", q, err))
			}
			if found != 0 {
				t.Fatalf("the link token is stored in plain text (%s)", q)
			}
		}
	})
}
