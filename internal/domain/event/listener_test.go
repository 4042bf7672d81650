package event

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ottr/backend/internal/platform/store/storetest"
)

// testDSN returns the PostgreSQL DSN for listener tests (the configured
// server, or the throwaway cluster started in its place), skipping them in
// a SQLite-only run.
func testDSN(t *testing.T) string {
	t.Helper()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: LISTEN/NOTIFY needs PostgreSQL")
	}
	return storetest.PostgresURL(t)
}

// connect opens a connection closed at the end of the test.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// testChannel returns a channel name of the test's own, so that tests and
// other users of a shared database never hear each other.
func testChannel() string {
	return "ottr_events_test_" + rand.Text()
}

// startListener runs l until the test ends and checks that Run then returns
// nil promptly. It returns the IDs l was notified of.
func startListener(t *testing.T, dsn string, opts ListenerOptions) (*Listener, <-chan int64) {
	t.Helper()
	ids := make(chan int64, 16)
	opts.Logger = slog.New(slog.DiscardHandler)
	l, err := NewListener(dsn, func(_ context.Context, id int64) { ids <- id }, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-l.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("listener not ready")
	}
	return l, ids
}

func next(t *testing.T, ids <-chan int64) int64 {
	t.Helper()
	select {
	case id := <-ids:
		return id
	case <-time.After(5 * time.Second):
		t.Fatal("no notification before timeout")
		return 0
	}
}

func TestListenerDeliversOnCommitOnly(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ch := testChannel()
	_, ids := startListener(t, dsn, ListenerOptions{Channel: ch})
	writer, other := connect(t, dsn), connect(t, dsn)

	tx, err := writer.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := notify(t.Context(), tx, ch, 1); err != nil {
		t.Fatal(err)
	}
	// A marker notified after the open transaction's: had the transaction's
	// notification been sent before commit, it would arrive first.
	if err := notify(t.Context(), other, ch, 2); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 2 {
		t.Fatalf("got id %d before commit, want marker 2", id)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 1 {
		t.Fatalf("got id %d after commit, want 1", id)
	}
}

func TestListenerRollbackNotifiesNothing(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ch := testChannel()
	_, ids := startListener(t, dsn, ListenerOptions{Channel: ch})
	conn := connect(t, dsn)

	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := notify(t.Context(), tx, ch, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Notifications arrive in commit order, so a marker sent after the
	// rollback is the first thing heard if the rollback sent nothing.
	if err := notify(t.Context(), conn, ch, 2); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 2 {
		t.Fatalf("got id %d, want marker 2: the rolled-back transaction notified", id)
	}
}

func TestListenerSkipsMalformedPayload(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ch := testChannel()
	_, ids := startListener(t, dsn, ListenerOptions{Channel: ch})
	conn := connect(t, dsn)

	if _, err := conn.Exec(t.Context(), "SELECT pg_notify($1, 'not-an-id')", ch); err != nil {
		t.Fatal(err)
	}
	if err := notify(t.Context(), conn, ch, 3); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 3 {
		t.Fatalf("got id %d, want 3", id)
	}
}

func TestListenerHealthCheckKeepsConnection(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ch := testChannel()
	l, ids := startListener(t, dsn, ListenerOptions{Channel: ch, HealthCheck: 10 * time.Millisecond})
	pid := l.BackendPID()
	time.Sleep(100 * time.Millisecond) // several idle timeouts and pings

	if err := notify(t.Context(), connect(t, dsn), ch, 4); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 4 {
		t.Fatalf("got id %d, want 4", id)
	}
	if got := l.BackendPID(); got != pid {
		t.Errorf("backend PID changed from %d to %d: health check reconnected", pid, got)
	}
}

func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ch := testChannel()
	reconnected := make(chan struct{}, 1)
	l, ids := startListener(t, dsn, ListenerOptions{
		Channel:     ch,
		MinBackoff:  10 * time.Millisecond,
		MaxBackoff:  100 * time.Millisecond,
		OnReconnect: func(context.Context) { reconnected <- struct{}{} },
	})
	conn := connect(t, dsn)

	if err := notify(t.Context(), conn, ch, 1); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 1 {
		t.Fatalf("got id %d, want 1", id)
	}

	pid := l.BackendPID()
	var killed bool
	if err := conn.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate listener backend %d: %v (terminated: %v)", pid, err, killed)
	}
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("OnReconnect not called after the backend was terminated")
	}
	if got := l.BackendPID(); got == pid || got == 0 {
		t.Errorf("backend PID after reconnect = %d, want a new one (old %d)", got, pid)
	}

	if err := notify(t.Context(), conn, ch, 2); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != 2 {
		t.Fatalf("got id %d after reconnect, want 2", id)
	}
}

// TestListenerRunStopsWhileRetrying needs no database: the address refuses
// connections, so Run is in its backoff loop when cancelled.
func TestListenerRunStopsWhileRetrying(t *testing.T) {
	t.Parallel()
	l, err := NewListener("postgres://postgres@127.0.0.1:1/postgres?sslmode=disable",
		func(context.Context, int64) {},
		ListenerOptions{MinBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	select {
	case <-l.Ready():
		t.Error("Ready closed without a successful LISTEN")
	default:
	}
}

func TestNewListenerRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := NewListener("postgres://%zz", func(context.Context, int64) {}, ListenerOptions{}); err == nil {
		t.Error("bad DSN accepted")
	}
	if _, err := NewListener(storetest.DefaultPostgresURL, nil, ListenerOptions{}); err == nil {
		t.Error("nil callback accepted")
	}
}

// execer is anything that can run a statement with pgx-style arguments:
// *pgx.Conn, pgx.Tx, *pgxpool.Pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// notify announces event id on channel, as the recorder's hook does inside
// the transaction that writes the event.
func notify(ctx context.Context, db execer, channel string, id int64) error {
	if _, err := db.Exec(ctx, "SELECT pg_notify($1, $2)", channel, strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("notify event %d on %s: %w", id, channel, err)
	}
	return nil
}
