package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// models lists every GORM model of the code base. Add yours here: the test
// below checks that the migrations create its table and every column.
var models = []any{
	&auth.User{},
	&auth.RefreshToken{},
	&auth.APIKey{},
	&project.Project{},
	&project.Member{},
	&event.Event{},
	&slack.Channel{},
	&notify.Delivery{},
	&notify.Attempt{},
}

func TestMigrationsCreateEveryModelsTableAndColumns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		db := s.DB(context.Background())
		for _, m := range models {
			stmt := &gorm.Statement{DB: db}
			if err := stmt.Parse(m); err != nil {
				t.Fatalf("parse model %T: %v", m, err)
			}
			table := stmt.Schema.Table
			if !db.Migrator().HasTable(table) {
				t.Errorf("%T: table %s missing", m, table)
				continue
			}
			for _, f := range stmt.Schema.Fields {
				if f.DBName == "" {
					continue // not stored
				}
				if !db.Migrator().HasColumn(table, f.DBName) {
					t.Errorf("%T: column %s.%s missing", m, table, f.DBName)
				}
			}
		}
	})
}

func TestMigrateTwiceChangesNothingAndNothingIsPending(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		storetest.Must(t, s.Migrate(ctx))
		pending, err := s.MigrationsPending(ctx)
		storetest.Must(t, err)
		if pending {
			t.Fatal("migrations pending after Migrate")
		}
	})
}

func TestFailedMigrationNamesTheFile(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		ctx := context.Background()
		databaseURL, dataDir := storetest.NewDatabase(t, d)
		s, err := store.Open(ctx, databaseURL, dataDir)
		storetest.Must(t, err)
		defer s.Close()
		// A table left behind by something else: the first migration cannot
		// create its own.
		_, err = s.SQL().ExecContext(ctx, "CREATE TABLE users (id INTEGER PRIMARY KEY)")
		storetest.Must(t, err)
		err = s.Migrate(ctx)
		if err == nil {
			t.Fatal("Migrate succeeded over a conflicting table")
		}
		if !strings.Contains(err.Error(), "00001_accounts_projects.sql") {
			t.Fatalf("error does not name the failed migration: %v", err)
		}
		pending, err := s.MigrationsPending(ctx)
		storetest.Must(t, err)
		if !pending {
			t.Fatal("a failed migration is not reported as pending")
		}
	})
}

// Instances starting together on one PostgreSQL database take turns. (One
// SQLite file serves one instance: there the second would fail and be
// restarted.)
func TestInstancesStartingTogetherMigrateOnce(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("PostgreSQL only, and OTTR_TEST_SQLITE_ONLY is set")
	}
	ctx := context.Background()
	databaseURL, dataDir := storetest.NewDatabase(t, store.Postgres)
	const instances = 4
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		s, err := store.Open(ctx, databaseURL, dataDir)
		storetest.Must(t, err)
		defer s.Close()
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	storetest.Must(t, errors.Join(errs...))
}

func TestWithTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		count := func() int64 {
			var n int64
			storetest.Must(t, s.DB(ctx).Model(&project.Project{}).Count(&n).Error)
			return n
		}
		insert := func(ctx context.Context) error {
			return s.DB(ctx).Create(&project.Project{ID: store.NewID(), Name: "p", CreatedAt: store.Now()}).Error
		}

		t.Run("rollback undoes the nested calls and skips AfterCommit", func(t *testing.T) {
			before := count()
			ran := false
			boom := errors.New("boom")
			err := s.WithTx(ctx, func(ctx context.Context) error {
				store.AfterCommit(ctx, func() { ran = true })
				if err := insert(ctx); err != nil {
					return err
				}
				// A nested call joins the outer transaction.
				return s.WithTx(ctx, func(ctx context.Context) error {
					if err := insert(ctx); err != nil {
						return err
					}
					return boom
				})
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithTx = %v, want boom", err)
			}
			if ran || count() != before {
				t.Fatalf("after rollback: AfterCommit ran %v, rows %d -> %d", ran, before, count())
			}
		})

		t.Run("commit runs AfterCommit once, after the rows are visible", func(t *testing.T) {
			before := count()
			var seen []int64
			storetest.Must(t, s.WithTx(ctx, func(ctx context.Context) error {
				store.AfterCommit(ctx, func() { seen = append(seen, count()) })
				return s.WithTx(ctx, insert)
			}))
			if len(seen) != 1 || seen[0] != before+1 {
				t.Fatalf("AfterCommit saw %v, want [%d]", seen, before+1)
			}
		})
	})
}

func TestExecAllIsOneUnit(t *testing.T) {
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
		a, b := store.NewID(), store.NewID()

		t.Run("every statement takes effect, in order", func(t *testing.T) {
			storetest.Must(t, s.ExecAll(ctx, insert(a, "a"), insert(b, "b"),
				store.Stmt{SQL: "UPDATE projects SET name = name || ? WHERE id IN ?", Args: []any{"!", []string{a, b}}}))
			if got := names(a, b); !slices.Equal(got, []string{"a!", "b!"}) {
				t.Fatalf("names = %v, want [a! b!]", got)
			}
		})

		t.Run("a failing statement undoes the others", func(t *testing.T) {
			c := store.NewID()
			err := s.ExecAll(ctx, insert(c, "c"),
				store.Stmt{SQL: "UPDATE projects SET name = ? WHERE id = ?", Args: []any{"changed", a}},
				insert(b, "duplicate"))
			if err == nil {
				t.Fatal("ExecAll with a duplicate key succeeded")
			}
			if got := names(a, b, c); !slices.Equal(got, []string{"a!", "b!"}) {
				t.Fatalf("names = %v, want [a! b!]: the statements before the failing one took effect", got)
			}
			// The connection is fine for the next unit.
			storetest.Must(t, s.ExecAll(ctx, insert(c, "c")))
		})

		t.Run("inside a transaction it joins it", func(t *testing.T) {
			e := store.NewID()
			boom := errors.New("boom")
			err := s.WithTx(ctx, func(ctx context.Context) error {
				if err := s.ExecAll(ctx, insert(e, "e")); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithTx = %v, want boom", err)
			}
			if got := names(e); len(got) != 0 {
				t.Fatalf("rolled back transaction left %v", got)
			}
		})
	})
}

func TestDuplicateKeyIsRecognised(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		u := auth.User{ID: store.NewID(), Email: "a@example.com", Name: "A", PasswordHash: "x", CreatedAt: store.Now()}
		storetest.Must(t, s.DB(ctx).Create(&u).Error)
		u.ID = store.NewID()
		if err := s.DB(ctx).Create(&u).Error; !store.IsDuplicate(err) {
			t.Fatalf("second insert of one e-mail: %v, want a duplicate-key error", err)
		}
	})
}

// A row that refers to a deleted row answers NOT_FOUND for what it
// referred to, on both databases, through GORM's statements and inside a
// transaction alike.
func TestForeignKeyViolationIsNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		key := auth.APIKey{ID: store.NewID(), ProjectID: store.NewID(), Name: "ci", Scope: auth.ScopeWrite,
			Prefix: "otw_abcd", SecretHash: "h", CreatedAt: store.Now()}
		err := s.DB(ctx).Create(&key).Error
		if e, ok := apperr.As(err); !ok || e.Code != apperr.CodeNotFound || e.Message != "project not found" || !store.IsGone(err) {
			t.Fatalf("insert under a missing project: %v, want NOT_FOUND for the project", err)
		}
		err = s.WithTx(ctx, func(ctx context.Context) error {
			return s.DB(ctx).Exec("INSERT INTO key_values (project_id, path, value, updated_at) VALUES (?, 'a', 'b', ?)",
				store.NewID(), store.Now()).Error
		})
		if apperr.CodeOf(err) != apperr.CodeNotFound {
			t.Fatalf("insert under a missing project in a transaction: %v, want NOT_FOUND", err)
		}
	})
}

// Concurrent writers on SQLite queue on the busy timeout instead of failing
// with SQLITE_BUSY.
func TestConcurrentWritersDoNotFail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		const writers = 40
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				errs[i] = s.WithTx(ctx, func(ctx context.Context) error {
					var n int64
					if err := s.DB(ctx).Model(&project.Project{}).Count(&n).Error; err != nil {
						return err
					}
					return s.DB(ctx).Create(&project.Project{ID: store.NewID(), Name: fmt.Sprint(n), CreatedAt: store.Now()}).Error
				})
			})
		}
		wg.Wait()
		storetest.Must(t, errors.Join(errs...))
	})
}

func TestSQLiteIsRecentWithForeignKeysAndWAL(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	var version, journal, jsonbType string
	var foreignKeys int
	db := s.SQL()
	storetest.Must(t, db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version))
	storetest.Must(t, db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal))
	storetest.Must(t, db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&foreignKeys))
	// jsonb arrived in 3.45; the job engine needs it.
	storetest.Must(t, db.QueryRowContext(ctx, `SELECT typeof(jsonb('{"a":1}'))`).Scan(&jsonbType))
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil || major < 3 || (major == 3 && minor < 45) {
		t.Errorf("SQLite %s, want 3.45 or later", version)
	}
	if journal != "wal" || foreignKeys != 1 || jsonbType != "blob" {
		t.Errorf("journal_mode %s, foreign_keys %d, jsonb type %s; want wal, 1, blob", journal, foreignKeys, jsonbType)
	}
	// The DSN's own busy timeout wins over the dialector's default of 5 s.
	var busyTimeout, synchronous int
	storetest.Must(t, db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busyTimeout))
	storetest.Must(t, db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&synchronous))
	if busyTimeout != 10000 || synchronous != 2 {
		t.Errorf("busy_timeout %d, synchronous %d; want 10000, 2 (FULL)", busyTimeout, synchronous)
	}
	// Foreign keys are enforced, not only declared.
	err := s.DB(ctx).Create(&project.Member{ProjectID: "none", UserID: "none", Role: project.RoleOwner, AddedAt: store.Now()}).Error
	if err == nil {
		t.Error("a member of a missing project was inserted")
	}
}

// A statement whose context ends is interrupted, however soon, and its
// connection can be closed right after: the driver must neither lose the
// interrupt nor read the connection while Close tears it down (the race
// detector watches the second).
func TestCancelledSQLiteStatementsStop(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.SQLite)
	// No idle connection: each one is closed as soon as it is handed back.
	s.SQL().SetMaxIdleConns(0)
	// Seconds of work, far more than the longest wait below.
	const slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT count(*) FROM c"
	for i := range 25 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i+1)*200*time.Microsecond)
		start := time.Now()
		var n int64
		err := s.SQL().QueryRowContext(ctx, slow).Scan(&n)
		cancel()
		if err == nil {
			t.Fatalf("the slow statement ran to its end (count %d) instead of stopping", n)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("statement stopped %s after it started, its context ended after %s", took, time.Duration(i+1)*200*time.Microsecond)
		}
	}
}

func TestNowRoundTrips(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		s := storetest.Open(t, d)
		ctx := context.Background()
		p := project.Project{ID: store.NewID(), Name: "p", CreatedAt: store.Now()}
		storetest.Must(t, s.DB(ctx).Create(&p).Error)
		var got project.Project
		storetest.Must(t, s.DB(ctx).Where("id = ?", p.ID).Take(&got).Error)
		if !got.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("created_at read back %v, wrote %v", got.CreatedAt, p.CreatedAt)
		}
		if d == store.SQLite {
			// UTC text in one fixed layout, so that text order is time order.
			var raw string
			storetest.Must(t, s.SQL().QueryRowContext(ctx, "SELECT created_at || '' FROM projects WHERE id = ?", p.ID).Scan(&raw))
			if want := p.CreatedAt.Format("2006-01-02 15:04:05.999999999-07:00"); raw != want {
				t.Fatalf("created_at stored as %q, want %q", raw, want)
			}
		}
	})
}
