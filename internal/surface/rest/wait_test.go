package rest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// Two instances on one PostgreSQL database: a long-poll on one returns as
// soon as the approval is executed through the other, long before its
// wait ends (the event crosses through LISTEN/NOTIFY).
func TestWaitReleasedByAnotherInstance(t *testing.T) {
	if storetest.SQLiteOnly() {
		t.Skip("needs PostgreSQL: two instances share one database (OTTR_TEST_SQLITE_ONLY=1 is set)")
	}
	t.Parallel()
	cfg := testserver.Config(t, store.Postgres)
	a := testserver.StartWith(t, cfg)
	b := testserver.StartWith(t, cfg)
	f := newFixture(t, a, nil)
	c := f.create(`{"key_path": "deploy/web/run-3", "actions": [{"key": "deploy", "value": "approved"}, {"key": "cancel", "value": "rejected"}]}`)

	type answer struct {
		r    reply
		took time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		r := do(t, a.URL, "GET", "/v1/approvals/"+c.ID+"?wait=60s", f.write, "")
		done <- answer{r, time.Since(start)}
	}()
	// The wait has started once its live stream subscribes to A's feed
	// (nothing else subscribes there): the execute below comes after.
	for deadline := time.Now().Add(30 * time.Second); a.App.Feed.Broker().Empty(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the wait on A did not start within 30 s")
		}
	}
	select {
	case got := <-done:
		t.Fatalf("the wait ended before the decision: %d %s", got.r.Status, got.r.Body)
	default:
	}
	status, err := b.ExecuteLink(c.URL, "cancel", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("execute on B: %d %v", status, err)
	}
	decided := time.Now()
	select {
	case got := <-done:
		var ap approvalJSON
		got.r.decode(t, http.StatusOK, &ap)
		if ap.Status != "executed" || ap.ExecutedAction == nil || ap.ExecutedAction.Key != "cancel" {
			t.Fatalf("the wait answered %+v", ap)
		}
		t.Logf("released %v after the decision on the other instance", time.Since(decided))
	case <-time.After(30 * time.Second):
		t.Fatal("the wait on A was not released by the execute on B within 30 s (it waits 60 s)")
	}
}
