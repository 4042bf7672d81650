package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// waitLimit bounds the waits on the database in these tests.
const waitLimit = 10 * time.Second

// logBuffer collects log lines written from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// roleWithOneSlot creates a login role that PostgreSQL lets hold one
// connection (superusers are exempt from connection limits), and returns
// the URL of the test's database as that role.
func roleWithOneSlot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", storetest.AdminURL())
	storetest.Must(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role := "ottr_one_slot_" + hex.EncodeToString(b)
	_, err = admin.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN CONNECTION LIMIT 1")
	storetest.Must(t, err)
	// Registered first, so it runs last: after the database and every
	// connection of the role are gone.
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP ROLE IF EXISTS "+role) })
	databaseURL, _ := storetest.NewDatabase(t, store.Postgres)
	u, err := url.Parse(databaseURL)
	storetest.Must(t, err)
	u.User = url.User(role)
	return u.String()
}

// holdSlot takes the role's one connection until the returned function
// gives it back.
func holdSlot(t *testing.T, databaseURL string) (release func()) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL)
	storetest.Must(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return func() { _ = conn.Close(context.Background()) }
}

// A PostgreSQL server with no room for another connection makes a new one
// wait, not fail: once a slot frees, the statement that needed it runs.
func TestConnectionWaitsForRoomOnPostgres(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("PostgreSQL only, and OTTR_TEST_SQLITE_ONLY is set")
	}
	databaseURL := roleWithOneSlot(t)
	release := holdSlot(t, databaseURL)

	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	type result struct {
		s   *store.Store
		err error
	}
	opened := make(chan result, 1)
	dataDir := t.TempDir()
	go func() {
		// Open's ping needs a connection.
		s, err := store.OpenWaitingForRoom(context.Background(), databaseURL, dataDir, time.Minute, logger)
		opened <- result{s, err}
	}()
	for start := time.Now(); !strings.Contains(logs.String(), "trying again"); time.Sleep(5 * time.Millisecond) {
		select {
		case r := <-opened:
			t.Fatalf("open returned %v while the only slot was taken, want it to wait", r.err)
		default:
		}
		if time.Since(start) > waitLimit {
			t.Fatalf("no refused connection was tried again; log:\n%s", logs.String())
		}
	}
	release()
	select {
	case r := <-opened:
		if r.err != nil {
			t.Fatalf("open once the slot freed: %v", r.err)
		}
		_ = r.s.Close()
	case <-time.After(waitLimit):
		t.Fatal("open still waits after the slot freed")
	}
}

// When no room frees in time, the statement fails with RATE_LIMITED (the
// client may try again), not an internal error, and the log says why.
func TestConnectionWithoutRoomIsRateLimited(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("PostgreSQL only, and OTTR_TEST_SQLITE_ONLY is set")
	}
	databaseURL := roleWithOneSlot(t)
	holdSlot(t, databaseURL)

	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	_, err := store.OpenWaitingForRoom(context.Background(), databaseURL, t.TempDir(), 100*time.Millisecond, logger)
	if !errors.Is(err, store.ErrDatabaseBusy) {
		t.Fatalf("open: %v, want ErrDatabaseBusy", err)
	}
	if e, ok := apperr.As(err); !ok || e.Code != apperr.CodeRateLimited || e.RetryAfter != time.Second {
		t.Fatalf("open: %v, want RATE_LIMITED with a retry after 1s", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.TooManyConnections {
		t.Fatalf("open: %v, want PostgreSQL's refusal kept for the log", err)
	}
	if !strings.Contains(logs.String(), "giving up") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
}
