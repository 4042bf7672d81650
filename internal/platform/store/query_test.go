package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

var projectByNameAndID = store.NewQuery(`SELECT id, name, created_at FROM projects WHERE name = ? AND id = ?`)

func TestQueryRow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		p := project.Project{ID: store.NewID(), Name: "p", CreatedAt: store.Now()}
		storetest.Must(t, s.DB(ctx).Create(&p).Error)
		read := func(ctx context.Context, name, id string) (project.Project, error) {
			var got project.Project
			err := s.QueryRow(ctx, projectByNameAndID, name, id).Scan(&got.ID, &got.Name, &got.CreatedAt)
			return got, err
		}

		t.Run("reads the row with its parameters in order, times as written", func(t *testing.T) {
			got, err := read(ctx, "p", p.ID)
			storetest.Must(t, err)
			if got.ID != p.ID || got.Name != p.Name || !got.CreatedAt.Equal(p.CreatedAt) {
				t.Fatalf("read %+v, wrote %+v", got, p)
			}
		})

		t.Run("a missing row is not found, as from Take", func(t *testing.T) {
			if _, err := read(ctx, p.ID, "p"); !store.IsNotFound(err) {
				t.Fatalf("parameters swapped: %v, want not found", err)
			}
		})

		t.Run("in a transaction, reads what it wrote", func(t *testing.T) {
			q := project.Project{ID: store.NewID(), Name: "q", CreatedAt: store.Now()}
			boom := errors.New("boom")
			err := s.WithTx(ctx, func(ctx context.Context) error {
				storetest.Must(t, s.DB(ctx).Create(&q).Error)
				got, err := read(ctx, "q", q.ID)
				if err != nil || got.ID != q.ID {
					t.Fatalf("in the transaction: %+v, %v", got, err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithTx = %v", err)
			}
			if _, err := read(ctx, "q", q.ID); !store.IsNotFound(err) {
				t.Fatalf("after rollback: %v, want not found", err)
			}
		})

		t.Run("a cancelled read fails and leaves the pool working", func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel()
			<-cctx.Done()
			if _, err := read(cctx, "p", p.ID); err == nil || store.IsNotFound(err) {
				t.Fatalf("cancelled read: %v, want an error", err)
			}
			for range 5 {
				if _, err := read(ctx, "p", p.ID); err != nil {
					t.Fatalf("after a cancelled read: %v", err)
				}
			}
		})

		if d == store.Postgres {
			t.Run("a read cancelled while PostgreSQL works on it leaves the pool working", func(t *testing.T) {
				slow := store.NewQuery(`SELECT name FROM projects WHERE id = ? AND pg_sleep(5)::text = ''`)
				s.SQL().SetMaxOpenConns(1) // the next read gets the same connection, or a new one
				cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				var name string
				start := time.Now()
				if err := s.QueryRow(cctx, slow, p.ID).Scan(&name); err == nil {
					t.Fatal("a read cancelled after 50ms returned no error")
				}
				if took := time.Since(start); took > 3*time.Second {
					t.Fatalf("the cancelled read returned after %v", took)
				}
				for range 5 {
					if _, err := read(ctx, "p", p.ID); err != nil {
						t.Fatalf("after a cancelled read: %v", err)
					}
				}
			})
		}
	})
}

func TestEach(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		prefix := store.NewID()
		var wrote []project.Project
		for i := range 3 {
			p := project.Project{ID: store.NewID(), Name: prefix + string(rune('a'+i)), CreatedAt: store.Now()}
			storetest.Must(t, s.DB(ctx).Create(&p).Error)
			wrote = append(wrote, p)
		}
		read := func(ctx context.Context, names ...string) ([]project.Project, error) {
			q, args, err := store.Built(s.DB(ctx).Model(&project.Project{}).Select("id, name, created_at").
				Where("name IN ?", names).Order("name DESC"), &[]project.Project{})
			if err != nil {
				return nil, err
			}
			var got []project.Project
			err = s.Each(ctx, q, args, func(scan func(...any) error) error {
				var p project.Project
				if err := scan(&p.ID, &p.Name, &p.CreatedAt); err != nil {
					return err
				}
				got = append(got, p)
				return nil
			})
			return got, err
		}

		t.Run("reads every row in order, with the builder's conditions and arguments", func(t *testing.T) {
			got, err := read(ctx, wrote[0].Name, wrote[2].Name, "missing")
			storetest.Must(t, err)
			if len(got) != 2 || got[0].ID != wrote[2].ID || got[1].ID != wrote[0].ID ||
				!got[0].CreatedAt.Equal(wrote[2].CreatedAt) {
				t.Fatalf("read %+v, want projects c then a of %+v", got, wrote)
			}
		})

		t.Run("no rows is no call and no error", func(t *testing.T) {
			got, err := read(ctx, "missing")
			if err != nil || len(got) != 0 {
				t.Fatalf("read %+v, %v", got, err)
			}
		})

		t.Run("an error of the callback stops the read and is returned", func(t *testing.T) {
			q, args, err := store.Built(s.DB(ctx).Model(&project.Project{}).Select("id").
				Where("name LIKE ?", prefix+"%"), &[]project.Project{})
			storetest.Must(t, err)
			boom := errors.New("boom")
			calls := 0
			err = s.Each(ctx, q, args, func(scan func(...any) error) error {
				calls++
				return boom
			})
			if !errors.Is(err, boom) || calls != 1 {
				t.Fatalf("Each = %v after %d calls, want boom after 1", err, calls)
			}
			for range 5 { // the connection went back to the pool
				if _, err := read(ctx, wrote[0].Name); err != nil {
					t.Fatalf("after a stopped read: %v", err)
				}
			}
		})

		t.Run("in a transaction, reads what it wrote", func(t *testing.T) {
			q := project.Project{ID: store.NewID(), Name: prefix + "q", CreatedAt: store.Now()}
			boom := errors.New("boom")
			err := s.WithTx(ctx, func(ctx context.Context) error {
				storetest.Must(t, s.DB(ctx).Create(&q).Error)
				got, err := read(ctx, q.Name)
				if err != nil || len(got) != 1 || got[0].ID != q.ID {
					t.Fatalf("in the transaction: %+v, %v", got, err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithTx = %v", err)
			}
			if got, err := read(ctx, q.Name); err != nil || len(got) != 0 {
				t.Fatalf("after rollback: %+v, %v", got, err)
			}
		})
	})
}

var projectsNamed = store.NewListQuery(`SELECT id FROM projects WHERE name LIKE ? AND name IN ? ORDER BY name`)

// A list query reads the rows of every item of its list, however many, on
// the pool and in a transaction; an empty list matches none.
func TestWithList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		prefix := store.NewID()
		var names, ids []string
		for i := range 120 {
			p := project.Project{ID: store.NewID(), Name: prefix + string(rune('a'+i/26)) + string(rune('a'+i%26)), CreatedAt: store.Now()}
			storetest.Must(t, s.DB(ctx).Create(&p).Error)
			names, ids = append(names, p.Name), append(ids, p.ID)
		}
		read := func(ctx context.Context, list []string) []string {
			t.Helper()
			q, args := s.WithList(projectsNamed, []any{prefix + "%"}, list)
			var got []string
			storetest.Must(t, s.Each(ctx, q, args, func(scan func(...any) error) error {
				var id string
				if err := scan(&id); err != nil {
					return err
				}
				got = append(got, id)
				return nil
			}))
			return got
		}
		for _, n := range []int{0, 1, 3, 120} {
			if got := read(ctx, names[:n]); !slices.Equal(got, ids[:n]) {
				t.Errorf("%d names: read %v, want %v", n, got, ids[:n])
			}
		}
		if got := read(ctx, []string{names[5], "missing", names[2]}); !slices.Equal(got, []string{ids[2], ids[5]}) {
			t.Errorf("two names and a missing one: read %v", got)
		}
		storetest.Must(t, s.WithTx(ctx, func(ctx context.Context) error {
			if got := read(ctx, names[:3]); !slices.Equal(got, ids[:3]) {
				t.Errorf("in a transaction: read %v, want %v", got, ids[:3])
			}
			return nil
		}))
	})
}
