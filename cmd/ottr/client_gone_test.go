package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// slowQuery is a query the database takes long over: a minute on
// PostgreSQL; on SQLite a fraction of a second, run again and again,
// since its driver misses a cancellation that comes just before a
// statement starts to run.
var slowQuery = map[store.Dialect]string{
	store.Postgres: "SELECT pg_sleep(60)",
	store.SQLite:   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c",
}

// A client that goes away in the middle of an expensive request stops its
// work: over real HTTP, a document of 20 createProject mutations (run one
// after the other) is sent, and the first one's store query is made slow
// in the database itself, for a minute. When the client disconnects, that query is
// cancelled in the database, no other mutation runs, nothing is stored,
// and the server's shutdown, which waits for requests in flight, is not
// held up by the abandoned one.
func TestGoneClientStopsItsRequest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		cfg := testserver.Config(t, d)
		a, err := ottr.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		storetest.Must(t, err)
		defer a.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		storetest.Must(t, err)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		served := make(chan error, 1)
		go func() { served <- serve(ctx, a, ln, nil) }()
		srv := testserver.Attach(t, "http://"+ln.Addr().String(), a)
		alice := srv.SignUp("Alice")

		// Every project insertion from now on first runs the slow query, on
		// the transaction's connection and with the request's context.
		var creates atomic.Int32
		started := make(chan struct{})
		slowEnded := make(chan error, 1)
		storetest.Must(t, a.Store.DB(t.Context()).Callback().Create().Before("gorm:create").Register("test:slow", func(tx *gorm.DB) {
			if tx.Statement.Table != "projects" {
				return
			}
			if creates.Add(1) == 1 {
				close(started)
			}
			start := time.Now()
			var err error
			for err == nil && time.Since(start) < time.Minute {
				_, err = tx.Statement.ConnPool.ExecContext(tx.Statement.Context, slowQuery[d])
			}
			select {
			case slowEnded <- fmt.Errorf("after %v: %w", time.Since(start).Round(time.Millisecond), err):
			default:
			}
			if err != nil {
				_ = tx.AddError(err)
			}
		}))

		var doc strings.Builder
		doc.WriteString("mutation {")
		for i := range 20 {
			fmt.Fprintf(&doc, ` p%d: createProject(input: {name: "gone %d"}) { id }`, i, i)
		}
		doc.WriteString(" }")
		body := fmt.Sprintf(`{"query": %q}`, doc.String())
		reqCtx, disconnect := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(reqCtx, http.MethodPost, srv.URL+"/query", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		answered := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			answered <- err
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the first mutation did not reach the store")
		}
		disconnect()
		if err := <-answered; !errors.Is(err, context.Canceled) {
			t.Fatalf("the client got %v, want its own cancellation", err)
		}

		// The database stops the query: it does not run for its minute.
		select {
		case err := <-slowEnded:
			if err == nil || !strings.Contains(err.Error(), "cancel") && !strings.Contains(err.Error(), "interrupt") {
				t.Fatalf("the slow query ended %v, want cancelled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the slow query still runs 10 s after the client left")
		}
		// Shutdown waits for requests in flight (up to 15 s): the abandoned
		// one has ended.
		begun := time.Now()
		stop()
		select {
		case err := <-served:
			storetest.Must(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the shutdown waited 10 s for the abandoned request")
		}
		if took := time.Since(begun); took > 5*time.Second {
			t.Errorf("the shutdown took %v", took)
		}
		if n := creates.Load(); n != 1 {
			t.Errorf("%d mutations reached the store, want only the first", n)
		}
		var stored int64
		storetest.Must(t, a.Store.DB(t.Context()).Table("projects").Count(&stored).Error)
		if stored != 0 {
			t.Errorf("%d projects stored, want none", stored)
		}
	})
}
