package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// ExecAllUnless commits its statements when the check is false or finds
// no row, rolls them back when it is true (and says so), rolls back on a
// failing statement with the connection fine afterwards, and does nothing
// on SQLite or inside a transaction, leaving the work to the caller.
func TestExecAllUnless(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		names := func(ids ...string) []string {
			var out []string
			storetest.Must(t, s.DB(ctx).Model(&project.Project{}).Where("id IN ?", ids).Order("name").Pluck("name", &out).Error)
			return out
		}
		insert := func(id, name string) store.Stmt {
			return store.Stmt{SQL: "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", Args: []any{id, name, store.Now()}}
		}
		exists := func(name string) store.Stmt {
			return store.Stmt{SQL: "SELECT true FROM projects WHERE name = ?", Args: []any{name}}
		}
		a, b, c, e := store.NewID(), store.NewID(), store.NewID(), store.NewID()

		if d != store.Postgres {
			done, err := s.ExecAllUnless(ctx, exists("none"), insert(a, "a"))
			if err != nil || done || len(names(a)) != 0 {
				t.Fatalf("on %s: done %v, err %v, names %v: want nothing done", d, done, err, names(a))
			}
			return
		}

		// No row: committed.
		done, err := s.ExecAllUnless(ctx, exists("none"), insert(a, "a"), insert(b, "b"))
		if err != nil || !done || !slices.Equal(names(a, b), []string{"a", "b"}) {
			t.Fatalf("check without a row: done %v, err %v, names %v", done, err, names(a, b))
		}
		// False: committed.
		done, err = s.ExecAllUnless(ctx, store.Stmt{SQL: "SELECT false"}, insert(c, "c"))
		if err != nil || !done || len(names(c)) != 1 {
			t.Fatalf("false check: done %v, err %v, names %v", done, err, names(c))
		}
		// True (it sees the statements before it): rolled back.
		done, err = s.ExecAllUnless(ctx, exists("e"), insert(e, "e"))
		if err != nil || done || len(names(e)) != 0 {
			t.Fatalf("true check: done %v, err %v, names %v: want rolled back", done, err, names(e))
		}
		// A failing statement: an error, nothing kept, the pool fine.
		done, err = s.ExecAllUnless(ctx, exists("none"), insert(e, "e"), insert(a, "duplicate"))
		if err == nil || done || len(names(e)) != 0 {
			t.Fatalf("failing statement: done %v, err %v, names %v", done, err, names(e))
		}
		// Inside a transaction: left to the caller.
		storetest.Must(t, s.WithTx(ctx, func(ctx context.Context) error {
			done, err := s.ExecAllUnless(ctx, exists("none"), insert(e, "e"))
			if err != nil || done {
				t.Errorf("in a transaction: done %v, err %v", done, err)
			}
			return nil
		}))
		storetest.Must(t, s.ExecAll(ctx, insert(e, "e")))
		if len(names(e)) != 1 {
			t.Fatal("the connection was not fine after the failure")
		}
	})
}
