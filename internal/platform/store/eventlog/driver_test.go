package eventlog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/eventlog"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// row is an event as Since reads it: the position and the horizon.
type row struct {
	Xid, ID int64
	Horizon int64
}

// addEvent commits one event of project p in its own transaction.
func addEvent(t *testing.T, ctx context.Context, st *store.Store, p string) {
	t.Helper()
	storetest.Must(t, st.DB(ctx).Exec("INSERT INTO events (type, occurred_at, project_id, key_path) VALUES (?, ?, ?, ?)",
		"PIN_FAILED", store.Now(), p, "k").Error)
}

// finalSoon reads until the first n events are below the horizon: on a
// PostgreSQL server other databases' transactions hold it back too.
func finalSoon(t *testing.T, ctx context.Context, st *store.Store, n int) []row {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := since(t, ctx, st, eventlog.Position{})
		if len(rows) == n && rows[n-1].Xid < rows[n-1].Horizon {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %+v, want %d events below the horizon", rows, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func since(t *testing.T, ctx context.Context, st *store.Store, after eventlog.Position) []row {
	t.Helper()
	var rows []row
	storetest.Must(t, st.EventLog().Since(st.DB(ctx), after, 100).Scan(&rows).Error)
	return rows
}

// TestDriverHorizon: a committed event becomes final (at once where one
// writer commits at a time); on PostgreSQL an event committed after an open
// transaction began is at or above the horizon until that one ends, and
// Final leaves it out.
func TestDriverHorizon(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := t.Context()
		st := storetest.Open(t, d)
		storetest.Must(t, st.DB(ctx).Exec("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p", "p", store.Now()).Error)
		addEvent(t, ctx, st, "p")
		finalSoon(t, ctx, st, 1)
		if !st.Shared() {
			return // one writer at a time: no transaction stays open beside a commit
		}
		// An open transaction with an ID, older than the next event's.
		tx, err := st.SQL().BeginTx(ctx, nil)
		storetest.Must(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, "SELECT pg_current_xact_id()")
		storetest.Must(t, err)
		addEvent(t, ctx, st, "p")
		rows := since(t, ctx, st, eventlog.Position{})
		if len(rows) != 2 || rows[1].Xid < rows[1].Horizon {
			t.Fatalf("read %+v, want the second event at or above the horizon", rows)
		}
		var final []eventlog.Position
		storetest.Must(t, st.DB(ctx).Table("events").Select("xid, id").Scopes(st.EventLog().Final).Order("xid, id").Scan(&final).Error)
		if len(final) != 1 {
			t.Fatalf("final events %+v, want the first only", final)
		}
		storetest.Must(t, tx.Rollback())
		finalSoon(t, ctx, st, 2)
	})
}

// TestDriverAnnouncements: on PostgreSQL a listener hears Notify's
// payload; SQLite has nobody to tell or hear.
func TestDriverAnnouncements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := t.Context()
		st := storetest.Open(t, d)
		drv := st.EventLog()
		heard := make(chan int64, 1)
		l, err := drv.NewListener(func(_ context.Context, n int64) { heard <- n }, eventlog.ListenerOptions{})
		if !drv.Shared() {
			if !errors.Is(err, eventlog.ErrNoListen) {
				t.Fatalf("NewListener on one instance's database: %v, want ErrNoListen", err)
			}
			storetest.Must(t, drv.Notify(ctx, "1"))
			return
		}
		storetest.Must(t, err)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- l.Run(runCtx) }()
		defer func() { stop(); <-done }()
		select {
		case <-l.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("listener not ready")
		}
		storetest.Must(t, drv.Notify(ctx, "42"))
		select {
		case n := <-heard:
			if n != 42 {
				t.Errorf("heard %d, want 42", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("nothing heard")
		}
	})
}

// TestDriverFanoutLock: on PostgreSQL a second transaction waits for the
// first's fan-out lock until it ends; SQLite takes none.
func TestDriverFanoutLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := t.Context()
		st := storetest.Open(t, d)
		if !st.Shared() {
			storetest.Must(t, st.WithTx(ctx, func(ctx context.Context) error { return st.EventLog().FanoutLock(st.DB(ctx)) }))
			return
		}
		locked, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- st.WithTx(ctx, func(ctx context.Context) error {
				if err := st.EventLog().FanoutLock(st.DB(ctx)); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := st.WithTx(waitCtx, func(ctx context.Context) error { return st.EventLog().FanoutLock(st.DB(ctx)) })
		if err == nil {
			t.Error("a second transaction took the fan-out lock while the first held it")
		}
		close(release)
		storetest.Must(t, <-first)
		storetest.Must(t, st.WithTx(ctx, func(ctx context.Context) error { return st.EventLog().FanoutLock(st.DB(ctx)) }))
	})
}
