package store_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// Every kind of statement the store sends tells the context's notice
// first, on the pool and in a transaction, with a context made from the
// one that carries the notice.
func TestWaitNoticeBeforeEveryStatement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		type marker struct{}
		var notices atomic.Int32
		base := context.WithValue(context.Background(), marker{}, true)
		ctx := store.WithWaitNotice(base, func(ctx context.Context) {
			if ctx.Value(marker{}) == nil {
				t.Error("the notice was given another context than the statement's")
			}
			notices.Add(1)
		})
		p := project.Project{ID: store.NewID(), Name: "notice", CreatedAt: store.Now()}
		storetest.Must(t, s.DB(context.Background()).Create(&p).Error)
		statements := []struct {
			name string
			run  func(ctx context.Context) error
		}{
			{"GORM create", func(ctx context.Context) error {
				q := project.Project{ID: store.NewID(), Name: "another", CreatedAt: store.Now()}
				return s.DB(ctx).Create(&q).Error
			}},
			{"GORM query", func(ctx context.Context) error { return s.DB(ctx).Take(&project.Project{}, "id = ?", p.ID).Error }},
			{"GORM update", func(ctx context.Context) error {
				return s.DB(ctx).Model(&project.Project{}).Where("id = ?", p.ID).Update("name", "noticed").Error
			}},
			{"GORM delete", func(ctx context.Context) error {
				return s.DB(ctx).Where("id = ?", store.NewID()).Delete(&project.Project{}).Error
			}},
			{"GORM raw", func(ctx context.Context) error {
				var n int
				return s.DB(ctx).Raw("SELECT count(*) FROM projects WHERE id = ?", p.ID).Scan(&n).Error
			}},
			{"GORM exec", func(ctx context.Context) error {
				return s.DB(ctx).Exec("UPDATE projects SET name = ? WHERE id = ?", "noticed", p.ID).Error
			}},
			{"QueryRow", func(ctx context.Context) error {
				var got project.Project
				return s.QueryRow(ctx, projectByNameAndID, "noticed", p.ID).Scan(&got.ID, &got.Name, &got.CreatedAt)
			}},
			{"Each", func(ctx context.Context) error {
				q, args := s.WithList(projectsNamed, []any{"notic%"}, []string{"noticed"})
				return s.Each(ctx, q, args, func(scan func(...any) error) error { var id string; return scan(&id) })
			}},
			{"ExecAll", func(ctx context.Context) error {
				return s.ExecAll(ctx, store.Stmt{SQL: "UPDATE projects SET name = ? WHERE id = ?", Args: []any{"noticed", p.ID}})
			}},
			{"WithLock", func(ctx context.Context) error {
				return s.WithLock(ctx, 4242, func(context.Context) error { return nil })
			}},
		}
		for _, inTx := range []bool{false, true} {
			for _, st := range statements {
				if inTx && st.name == "WithLock" {
					continue // not a statement of the transaction
				}
				before := notices.Load()
				run := st.run
				if inTx {
					run = func(ctx context.Context) error {
						return s.WithTx(ctx, func(ctx context.Context) error {
							before = notices.Load() // the transaction's BEGIN noticed
							return st.run(ctx)
						})
					}
				}
				if err := run(ctx); err != nil {
					t.Fatalf("%s (in a transaction: %v): %v", st.name, inTx, err)
				}
				if st.name == "WithLock" && d == store.SQLite {
					continue // one SQLite file takes no lock: nothing is sent
				}
				if notices.Load() <= before {
					t.Errorf("%s (in a transaction: %v) sent without a notice", st.name, inTx)
				}
			}
		}
		// Without a notice in the context, statements run as ever.
		if err := s.DB(context.Background()).Take(&project.Project{}, "id = ?", p.ID).Error; err != nil {
			t.Fatal(err)
		}
	})
}

// The statements the store sends without GORM are shown to the
// OnDirectStatement function, with their context, before they are sent:
// the counts of statements per request see them that way.
func TestOnDirectStatementSeesWhatGORMDoesNot(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		type marker struct{}
		var seen []string
		s.OnDirectStatement(func(ctx context.Context, sql string) {
			if ctx.Value(marker{}) != nil {
				seen = append(seen, sql)
			}
		})
		ctx := context.WithValue(context.Background(), marker{}, true)
		p := project.Project{ID: store.NewID(), Name: "direct", CreatedAt: store.Now()}
		storetest.Must(t, s.DB(ctx).Create(&p).Error)
		if len(seen) != 0 {
			t.Fatalf("GORM's statement was shown as direct: %v", seen)
		}
		var got project.Project
		storetest.Must(t, s.QueryRow(ctx, projectByNameAndID, "direct", p.ID).Scan(&got.ID, &got.Name, &got.CreatedAt))
		q, args := s.WithList(projectsNamed, []any{"dir%"}, []string{"direct"})
		storetest.Must(t, s.Each(ctx, q, args, func(scan func(...any) error) error { var id string; return scan(&id) }))
		if len(seen) != 2 || !strings.Contains(seen[0], "FROM projects WHERE name") || !strings.Contains(seen[1], "name LIKE") {
			t.Fatalf("direct statements %q; want QueryRow's, then Each's", seen)
		}
		storetest.Must(t, s.ExecAll(ctx, store.Stmt{SQL: "UPDATE projects SET name = ? WHERE id = ?", Args: []any{"direct", p.ID}}))
		// On PostgreSQL ExecAll sends its batch itself; on SQLite through GORM.
		if want := map[store.Dialect]int{store.Postgres: 3, store.SQLite: 2}[d]; len(seen) != want {
			t.Fatalf("after ExecAll, direct statements %q; want %d", seen, want)
		}
	})
}
