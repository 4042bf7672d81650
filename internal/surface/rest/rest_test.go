package rest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

func TestApprovalLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		c := f.create(`{"key_path": "deploy/web/run-7", "info": "Deploy web?", "ref_id": "run-7", "ttl_seconds": 1800,
			"initial_value": "waiting",
			"actions": [{"key": "deploy", "value": "approved", "label": "Deploy", "style": "primary"},
			            {"key": "cancel", "value": "rejected", "label": "Cancel", "style": "danger"}]}`)
		if !strings.HasPrefix(c.URL, f.srv.URL+"/a/") || c.KeyPath != "deploy/web/run-7" || c.ID == "" {
			t.Fatalf("created %+v", c)
		}
		created, _ := time.Parse(time.RFC3339Nano, c.CreatedAt)
		expires, _ := time.Parse(time.RFC3339Nano, c.ExpiresAt)
		if got := expires.Sub(created); got != 1800*time.Second {
			t.Errorf("expires %v after creation, want 30m", got)
		}

		a := f.approval(c.ID, "")
		if a.Status != "pending" || len(a.Actions) != 2 || a.Actions[0].Style != "primary" || a.Actions[1].Style != "danger" {
			t.Fatalf("approval %+v", a)
		}
		var value *string
		f.do("GET", "/v1/key/deploy/web/run-7", f.read, "").decode(t, http.StatusOK, &value)
		if value == nil || *value != "waiting" {
			t.Fatalf("initial value %v", value)
		}
		var pending struct {
			Pending *struct {
				ApprovalID string `json:"approval_id"`
				ExpiresAt  string `json:"expires_at"`
			}
		}
		f.do("GET", "/v1/key/deploy/web/run-7/pending", f.read, "").decode(t, http.StatusOK, &pending)
		if pending.Pending == nil || pending.Pending.ApprovalID != c.ID || pending.Pending.ExpiresAt != c.ExpiresAt {
			t.Fatalf("pending %+v", pending.Pending)
		}

		if st := f.execute(c.URL, "deploy", ""); st != http.StatusOK {
			t.Fatalf("execute: %d", st)
		}
		a = f.approval(c.ID, "?wait=30s")
		if a.Status != "executed" || a.ExecutedAction == nil || a.ExecutedAction.Value != "approved" {
			t.Fatalf("after execute %+v", a)
		}
		f.do("GET", "/v1/key/deploy/web/run-7", f.read, "").decode(t, http.StatusOK, &value)
		if *value != "approved" {
			t.Fatalf("value %q after execute", *value)
		}
		f.do("GET", "/v1/key/deploy/web/run-7/pending", f.read, "").decode(t, http.StatusOK, &pending)
		if pending.Pending != nil {
			t.Fatalf("still pending: %+v", pending.Pending)
		}
	})
}

func TestSimpleFormInvalidateAndKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		c := f.create(`{"key_path": "myapp/feature", "value": "on"}`)
		a := f.approval(c.ID, "")
		if len(a.Actions) != 1 || a.Actions[0].Key != "approve" || a.Actions[0].Value != "on" {
			t.Fatalf("simple form actions %+v", a.Actions)
		}
		var got approvalJSON
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, `{"reason": "superseded"}`).decode(t, http.StatusOK, &got)
		if got.Status != "invalidated" {
			t.Fatalf("invalidate answered %+v", got)
		}
		if st := f.execute(c.URL, "approve", ""); st != http.StatusGone {
			t.Fatalf("invalidated link answered %d", st)
		}

		// An approval names its key before anything sets it: null.
		var value *string
		f.do("GET", "/v1/key/myapp/feature", f.read, "").decode(t, http.StatusOK, &value)
		if value != nil {
			t.Fatalf("unset key reads %q", *value)
		}
		// PUT: the body is the value; with a JSON content type, a JSON string.
		f.do("PUT", "/v1/key/myapp/feature", f.write, "").decode(t, http.StatusOK, &value) // empty body: the empty value
		if value == nil || *value != "" {
			t.Fatalf("empty PUT answered %v", value)
		}
		r := f.do("PUT", "/v1/key/myapp/feature", f.write, `off`)
		r.expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "value")
		f.do("PUT", "/v1/key/myapp/feature", f.write, `"off"`).decode(t, http.StatusOK, &value)
		if *value != "off" {
			t.Fatalf("PUT answered %q", *value)
		}
		f.do("PUT", "/v1/key/myapp/feature", f.write, "plain text, as sent", "Content-Type", "text/plain").decode(t, http.StatusOK, &value)
		f.do("GET", "/v1/key/myapp/feature", f.read, "").decode(t, http.StatusOK, &value)
		if *value != "plain text, as sent" {
			t.Fatalf("GET after PUT reads %q", *value)
		}
		// A key whose last segment is "pending" is read with that slash escaped.
		f.do("PUT", "/v1/key/jobs%2Fpending", f.write, `"3"`).decode(t, http.StatusOK, &value)
		f.do("GET", "/v1/key/jobs%2Fpending", f.read, "").decode(t, http.StatusOK, &value)
		if *value != "3" {
			t.Fatalf("jobs/pending reads %q", *value)
		}
		var pending struct{ Pending any }
		f.do("GET", "/v1/key/jobs/pending", f.read, "").decode(t, http.StatusOK, &pending)
		if pending.Pending != nil {
			t.Fatalf("jobs has a pending approval: %v", pending.Pending)
		}
	})
}

// Every error is JSON with a code, and the status the README's table
// gives it.
func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		c := f.create(`{"key_path": "deploy/api", "value": "yes", "pin": "2468", "max_pin_attempts": 1}`)

		// 400
		for _, tc := range []struct{ name, body, field string }{
			{"invalid JSON", `{"key_path": `, "body"},
			{"not an object", `[1]`, "body"},
			{"two values", `{"key_path": "a", "value": "b"} {}`, "body"},
			{"unknown field", `{"key_path": "a", "value": "b", "ttl": 5}`, "ttl"},
			{"wrong type", `{"key_path": "a", "value": "b", "ttl_seconds": "600"}`, "ttl_seconds"},
			{"bad key path", `{"key_path": "/a//b", "value": "b"}`, "key_path"},
			{"neither value nor actions", `{"key_path": "a"}`, "value"},
			{"ttl out of range", `{"key_path": "a", "value": "b", "ttl_seconds": 1}`, "ttl_seconds"},
			{"bad style", `{"key_path": "a", "actions": [{"key": "k", "value": "v", "style": "loud"}]}`, "actions"},
			{"invalid UTF-8", "{\"key_path\": \"a\", \"value\": \"\xff\"}", "body"},
		} {
			r := f.do("POST", "/v1/approvals", f.write, tc.body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d: %s", tc.name, r.Status, r.Body)
				continue
			}
			r.expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", tc.field)
		}
		f.do("PUT", "/v1/key/a", f.write, strings.Repeat("x", 2<<20), "Content-Type", "text/plain").
			expectError(t, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT", "")
		f.do("PUT", "/v1/key/a", f.write, strings.Repeat("x", 1001), "Content-Type", "text/plain").
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "value")
		for _, p := range []string{"/v1/approvals/%00", "/v1/approvals/%FF?wait=1s", "/v1/key/a%FF/pending", "/v1/key/a%0Ab"} {
			f.do("GET", p, f.write, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")
		}
		f.do("POST", "/v1/approvals/%FF/invalidate", f.write, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")
		f.do("PUT", "/v1/key/a%00", f.write, "x").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")
		f.do("GET", "/v1/key/a%20b/pending", f.read, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")
		f.do("GET", "/v1/approvals/"+c.ID+"?wait=soon", f.write, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "wait")
		f.do("GET", "/v1/key/a%20b", f.read, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")
		f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "b"}`, "Idempotency-Key", "has space").
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "Idempotency-Key")

		// 401
		r := f.do("GET", "/v1/approvals/"+c.ID, "", "")
		r.expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED", "")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
		f.do("GET", "/v1/key/deploy/api", "otw_not-a-key", "").expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED", "")
		f.do("GET", "/v1/key/deploy/api", "", "", "Authorization", "Basic Zm9vOmJhcg==").expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED", "")

		// 403: a READ key writes; a user's access token where a key is meant.
		f.do("POST", "/v1/approvals", f.read, `{"key_path": "a", "value": "b"}`).expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		f.do("PUT", "/v1/key/a", f.read, `"b"`).expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		f.do("GET", "/v1/key/deploy/api", f.owner.AccessToken, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")

		// 404: unknown approval, another project's approval, unknown key,
		// unknown endpoint.
		other := newFixture(t, f.srv, f.clock)
		f.do("GET", "/v1/approvals/0190a0a0-0000-7000-8000-000000000000", f.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("GET", "/v1/approvals/"+c.ID, other.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("GET", "/v1/approvals/"+c.ID+"?wait=5s", other.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", other.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("GET", "/v1/key/never/set", f.read, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("GET", "/v1/keys", f.read, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("DELETE", "/v1/approvals/"+c.ID, f.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")

		// 410: locked after a wrong PIN, invalidated, expired.
		if st := f.execute(c.URL, "approve", "0000"); st != http.StatusGone {
			t.Fatalf("the last wrong PIN answered %d", st)
		}
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, "").expectError(t, http.StatusGone, "CONFLICT", "")
		gone := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
		f.do("POST", "/v1/approvals/"+gone.ID+"/invalidate", f.write, "").decode(t, http.StatusOK, nil)
		f.do("POST", "/v1/approvals/"+gone.ID+"/invalidate", f.write, "").expectError(t, http.StatusGone, "CONFLICT", "")
		late := f.create(`{"key_path": "deploy/api", "value": "yes", "ttl_seconds": 60}`)
		f.clock.Advance(2 * time.Minute)
		f.do("POST", "/v1/approvals/"+late.ID+"/invalidate", f.write, "").expectError(t, http.StatusGone, "CONFLICT", "")

		// 409: an executed approval.
		done := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
		if st := f.execute(done.URL, "approve", ""); st != http.StatusOK {
			t.Fatalf("execute: %d", st)
		}
		f.do("POST", "/v1/approvals/"+done.ID+"/invalidate", f.write, "").expectError(t, http.StatusConflict, "CONFLICT", "")

		// 422: an Idempotency-Key reused for another request.
		f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "1"}`, "Idempotency-Key", "run-1").decode(t, http.StatusCreated, nil)
		f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "2"}`, "Idempotency-Key", "run-1").
			expectError(t, http.StatusUnprocessableEntity, "BAD_USER_INPUT", "Idempotency-Key")
	})
}

// An API key holds at most rest.MaxWaitsPerKey long-polls at once; one more
// answers 429 with Retry-After, and the key may wait again once one ends.
func TestTooManyWaits(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite)
	c := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
	const allowed = 10 // rest.MaxWaitsPerKey
	replies := make(chan reply, allowed+1)
	for range allowed + 1 {
		go func() { replies <- do(t, f.srv.URL, "GET", "/v1/approvals/"+c.ID+"?wait=60s", f.write, "") }()
	}
	// Nothing ends the ten that got in before the approval does: the first
	// answer is the one refused.
	r := <-replies
	e := r.expectError(t, http.StatusTooManyRequests, "RATE_LIMITED", "")
	if r.Header.Get("Retry-After") != "1" || e.Error.RetryAfterSeconds != 1 {
		t.Errorf("Retry-After %q, retry_after_seconds %d", r.Header.Get("Retry-After"), e.Error.RetryAfterSeconds)
	}
	// A read without wait is never refused.
	f.do("GET", "/v1/approvals/"+c.ID, f.write, "").decode(t, http.StatusOK, nil)
	if st := f.execute(c.URL, "approve", ""); st != http.StatusOK {
		t.Fatalf("execute: %d", st)
	}
	for range allowed {
		var a approvalJSON
		(<-replies).decode(t, http.StatusOK, &a)
		if a.Status != "executed" {
			t.Errorf("a wait ended with %q", a.Status)
		}
	}
	f.do("GET", "/v1/approvals/"+c.ID+"?wait=60s", f.write, "").decode(t, http.StatusOK, nil)
}

// A wait on a final approval answers at once; on a pending one, at the
// end of the wait with the state then.
func TestWait(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		c := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
		if a := f.approval(c.ID, "?wait=1s"); a.Status != "pending" {
			t.Fatalf("after a short wait: %s", a.Status)
		}
		if a := f.approval(c.ID, "?wait=0"); a.Status != "pending" {
			t.Fatalf("without a wait: %s", a.Status)
		}
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, "").decode(t, http.StatusOK, nil)
		start := time.Now()
		if a := f.approval(c.ID, "?wait=60"); a.Status != "invalidated" {
			t.Fatalf("after invalidation: %s", a.Status)
		}
		if waited := time.Since(start); waited > 20*time.Second {
			t.Fatalf("a final approval's wait took %v: it should answer at once", waited)
		}
	})
}

// A failure on the server's side answers 500 INTERNAL with nothing of the
// cause, and the request id that finds the cause in the log.
func TestInternalError(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		_ = f.srv.App.Store.Close() // the database goes away
		r := f.do("GET", "/v1/key/deploy/web", f.read, "", "X-Request-Id", "req-internal-1")
		e := r.expectError(t, http.StatusInternalServerError, "INTERNAL", "")
		if e.Error.Message != "internal error" || e.Error.RequestID != "req-internal-1" {
			t.Fatalf("answered %s", r.Body)
		}
		if !strings.Contains(f.srv.Logs.String(), "req-internal-1") {
			t.Fatal("the log does not name the request")
		}
	})
}
