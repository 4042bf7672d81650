// Package storetest gives each test its own fresh database, on SQLite and on
// PostgreSQL, so that the whole suite runs against both and tests can run in
// parallel.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the admin connection

	"github.com/ottr/backend/internal/platform/store"
)

// DefaultPostgresURL is the local server these machines and docker compose run.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// SQLiteOnly reports whether the caller asked to skip PostgreSQL
// (OTTR_TEST_SQLITE_ONLY=1).
func SQLiteOnly() bool { return os.Getenv("OTTR_TEST_SQLITE_ONLY") == "1" }

// Dialects lists the databases the suite runs against.
func Dialects() []store.Dialect {
	if SQLiteOnly() {
		return []store.Dialect{store.SQLite}
	}
	return []store.Dialect{store.SQLite, store.Postgres}
}

// Each runs fn as a subtest once per dialect.
func Each(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// AdminURL is the PostgreSQL server tests create their databases on (see
// PostgresURL): the configured one, or the throwaway cluster started in its
// place. When neither is there it returns the configured URL, on which
// connections then fail; PostgresURL fails the test with what to do.
func AdminURL() string {
	if u, err := resolveAdminURL(); err == nil {
		return u
	}
	return configuredURL()
}

// NewDatabase creates an empty database for one test and returns the
// settings to open it with: a postgres URL, or a data directory for SQLite.
// The database is dropped when the test ends.
func NewDatabase(t testing.TB, d store.Dialect) (databaseURL, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	if d == store.SQLite {
		return "", dataDir
	}
	adminURL := PostgresURL(t)
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatalf("open PostgreSQL admin connection: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL at %s: %v", redact(adminURL), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ottr_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", adminURL)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("parse OTTR_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String(), dataDir
}

// Open returns a migrated store on a fresh database of dialect d.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	databaseURL, dataDir := NewDatabase(t, d)
	s, err := store.Open(context.Background(), databaseURL, dataDir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("unexpected error: %w", err))
	}
}
