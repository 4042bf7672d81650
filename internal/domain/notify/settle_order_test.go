package notify_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A settle that a project's delete overtook waits for the delete, or the
// delete for it, never both: each takes a delivery's row before its
// attempt and its channel (the lock order of
// internal/domain/project/lock.go). Here the settle's first statement
// runs, the delete starts and waits, then the settle's others run. Out of
// that order each held what the other waited for, and PostgreSQL aborted
// the delete (deleteProject answered INTERNAL).
func TestSettleAndProjectDeleteTakeADeliveryInOneOrder(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: row locks are PostgreSQL's")
	}
	for _, kind := range []string{"slack", "webhook"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			hooks := newHookReceiver(t, func(int64, int) (int, string) { return http.StatusNoContent, "" })
			e := newEnv(t, store.Postgres, func(c *config.Config) { c.WebhookAllowedPrefixes = []string{hooks.URL + "/"} })
			deliveries, attempts := "deliveries", "delivery_attempts"
			var channel string
			if kind == "slack" {
				channel, _ = e.channel("alerts", "APPROVAL_CREATED")
			} else {
				deliveries, attempts = "webhook_deliveries", "webhook_delivery_attempts"
				var hook struct {
					AddWebhookEndpoint struct{ Endpoint struct{ ID string } }
				}
				e.owner.MustDo(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { endpoint { id } } }`,
					map[string]any{"p": e.pid, "i": map[string]any{"name": "hook", "url": hooks.URL + "/hook", "events": []string{"APPROVAL_CREATED"}}}, &hook)
				channel = hook.AddWebhookEndpoint.Endpoint.ID
			}
			e.createApproval(map[string]any{"keyPath": "deploy/prod", "value": "yes"})
			db := e.srv.App.Store.DB(t.Context())
			var delivery string
			eventually(t, 10*time.Second, func() bool {
				storetest.Must(t, db.Raw("SELECT id FROM "+deliveries+" WHERE channel_id = ? AND status = ?", channel, slack.StatusDelivered).
					Scan(&delivery).Error)
				return delivery != ""
			}, func() string { return "the delivery was not delivered" })
			// An attempt in flight, as begin leaves it.
			storetest.Must(t, db.Exec("INSERT INTO "+attempts+" (delivery_id, attempted_at, duration_ms, outcome) VALUES (?, ?, 0, ?)",
				delivery, time.Now(), notify.OutcomeStarted).Error)

			stmts := notify.SettleStmts(kind, delivery, channel)
			settle := db.Begin()
			defer settle.Rollback()
			storetest.Must(t, settle.Exec(stmts[0].SQL, stmts[0].Args...).Error)
			deleted := deleteWaitingForARow(t, e)
			for _, st := range stmts[1:] {
				storetest.Must(t, settle.Exec(st.SQL, st.Args...).Error)
			}
			storetest.Must(t, settle.Commit().Error)
			if r := <-deleted; len(r.Errors) > 0 {
				t.Fatalf("deleteProject answered %s: %+v", r.Errors[0].Code(), r.Errors)
			}
		})
	}
}

// A project's delete takes the deliveries of an approval in event order,
// as the worker does when it settles one and then wakes the next: here a
// settle holds the first delivery, the delete starts and waits, and the
// settle then gives the second its job. Taking them in the order of its
// scan (the second first: on disk here, along the channel's newest-first
// index on a large table), the delete held the second while it waited
// for the first, and PostgreSQL aborted it.
func TestProjectDeleteTakesDeliveriesInEventOrder(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: row locks are PostgreSQL's")
	}
	e := newEnv(t, store.Postgres)
	// The channel selects neither event: the only deliveries are the two
	// written below, which no job works on.
	channel, _ := e.channel("alerts", "TOKEN_LOCKED")
	events := []*event.Event{e.record(event.ApprovalCreated, "deploy/prod"), e.record(event.ApprovalExecuted, "deploy/prod")}
	e.fannedOut()
	ids := []string{store.NewID(), store.NewID()}
	slices.Sort(ids)
	db := e.srv.App.Store.DB(t.Context())
	for _, i := range []int{1, 0} {
		storetest.Must(t, db.Exec("INSERT INTO deliveries (id, channel_id, event_id, status, created_at, ordered_by) VALUES (?, ?, ?, ?, ?, ?)",
			ids[i], channel, events[i].ID, "PENDING", time.Now(), "approval").Error)
	}

	settle := db.Begin()
	defer settle.Rollback()
	first := notify.SettleStmts("slack", ids[0], channel)[0]
	storetest.Must(t, settle.Exec(first.SQL, first.Args...).Error)
	deleted := deleteWaitingForARow(t, e)
	// What wakeNext writes: the next delivery of the approval gets a job.
	storetest.Must(t, settle.Exec("UPDATE deliveries SET job_id = ? WHERE id = ?", 1, ids[1]).Error)
	storetest.Must(t, settle.Commit().Error)
	if r := <-deleted; len(r.Errors) > 0 {
		t.Fatalf("deleteProject answered %s: %+v", r.Errors[0].Code(), r.Errors)
	}
}

// deleteWaitingForARow starts deleteProject on e's project and returns once
// it waits for a row another transaction holds; its answer comes on the
// channel.
func deleteWaitingForARow(t *testing.T, e *env) <-chan *testserver.Response {
	t.Helper()
	deleted := make(chan *testserver.Response, 1)
	go func() {
		deleted <- e.owner.Do(`mutation($p: ID!) { deleteProject(id: $p) }`, map[string]any{"p": e.pid})
	}()
	db := e.srv.App.Store.DB(t.Context())
	eventually(t, 10*time.Second, func() bool {
		var waiting int64
		storetest.Must(t, db.Raw(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event IN ('transactionid', 'tuple')`).Scan(&waiting).Error)
		return waiting > 0
	}, func() string { return "the delete never waited for the settle" })
	return deleted
}
