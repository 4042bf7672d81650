package notify_test

import (
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A settle that a project's delete overtook waits for the delete, or the
// delete for it, never both: the settle takes the delivery's row before
// its attempt, as the delete does (the attempt goes with the delivery
// through the cascade). Here the settle's first statement runs, the
// delete starts and waits, then the settle's others run. In the other
// order each held what the other waited for, and PostgreSQL aborted the
// delete (deleteProject answered INTERNAL).
func TestSettleAndProjectDeleteTakeADeliveryInOneOrder(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: row locks are PostgreSQL's")
	}
	e := newEnv(t, store.Postgres)
	cid, _ := e.channel("alerts", "APPROVAL_CREATED")
	e.createApproval(map[string]any{"keyPath": "deploy/prod", "value": "yes"})
	del := e.settled(cid, 1, 10*time.Second)[0]
	db := e.srv.App.Store.DB(t.Context())
	// An attempt in flight, as begin leaves it.
	storetest.Must(t, db.Exec("INSERT INTO delivery_attempts (delivery_id, attempted_at, duration_ms, outcome) VALUES (?, ?, 0, ?)",
		del.ID, time.Now(), notify.OutcomeStarted).Error)

	stmts := notify.SettleStmts(del.ID, cid)
	settle := db.Begin()
	defer settle.Rollback()
	storetest.Must(t, settle.Exec(stmts[0].SQL, stmts[0].Args...).Error)
	deleted := make(chan *testserver.Response, 1)
	go func() {
		deleted <- e.owner.Do(`mutation($p: ID!) { deleteProject(id: $p) }`, map[string]any{"p": e.pid})
	}()
	eventually(t, 10*time.Second, func() bool {
		var waiting int64
		storetest.Must(t, db.Raw(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE%'`).Scan(&waiting).Error)
		return waiting > 0
	}, func() string { return "the delete never waited for the settle" })
	for _, st := range stmts[1:] {
		storetest.Must(t, settle.Exec(st.SQL, st.Args...).Error)
	}
	storetest.Must(t, settle.Commit().Error)
	if r := <-deleted; len(r.Errors) > 0 {
		t.Fatalf("deleteProject answered %s: %+v", r.Errors[0].Code(), r.Errors)
	}
}
