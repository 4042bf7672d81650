package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// bodyReadListener reports when the server reads from a connection after
// the request's headers arrived: the handler is then reading the body, and
// the request is in flight. (A request whose headers arrive after shutdown
// began is dropped, as net/http does.)
type bodyReadListener struct {
	net.Listener
	reading chan struct{}
	once    sync.Once
}

func (l *bodyReadListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bodyReadConn{Conn: c, l: l}, nil
}

type bodyReadConn struct {
	net.Conn
	l    *bodyReadListener
	seen []byte
}

func (c *bodyReadConn) Read(p []byte) (int, error) {
	if bytes.Contains(c.seen, []byte("\r\n\r\n")) {
		c.l.once.Do(func() { close(c.l.reading) })
	}
	n, err := c.Conn.Read(p)
	c.seen = append(c.seen, p[:n]...)
	return n, err
}

func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		a, err := ottr.New(context.Background(), testserver.Config(t, d), slog.New(slog.NewTextHandler(io.Discard, nil)))
		storetest.Must(t, err)
		defer a.Close()
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		storetest.Must(t, err)
		ln := &bodyReadListener{Listener: inner, reading: make(chan struct{})}
		addr := ln.Addr().String()
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		served := make(chan error, 1)
		go func() { served <- serve(ctx, a, ln, nil) }()

		// A request whose body arrives in two parts: in flight while the
		// server shuts down.
		body, sendBody := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/query", body)
		req.Header.Set("Content-Type", "application/json")
		type result struct {
			resp *http.Response
			body string
			err  error
		}
		answered := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answered <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answered <- result{resp: resp, body: string(b), err: err}
		}()
		if _, err := sendBody.Write([]byte(`{"query": "{ __type`)); err != nil {
			t.Fatal(err)
		}
		<-ln.reading

		stop() // as SIGTERM does
		// The listener closes: no new connection gets in.
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatal("still accepting connections after shutdown began")
			}
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case err := <-served:
			t.Fatalf("serve returned with a request in flight: %v", err)
		default:
		}

		// The request in flight still gets its answer.
		if _, err := sendBody.Write([]byte(`name }"}`)); err != nil {
			t.Fatal(err)
		}
		sendBody.Close()
		r := <-answered
		if r.err != nil || r.resp.StatusCode != http.StatusOK || !strings.Contains(r.body, `"__typename":"Query"`) {
			t.Fatalf("request in flight: %v %v %s", r.err, r.resp, r.body)
		}
		if err := <-served; err != nil {
			t.Fatalf("serve: %v", err)
		}
	})
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	a, err := ottr.New(context.Background(), testserver.Config(t, store.SQLite), slog.New(slog.NewTextHandler(io.Discard, nil)))
	storetest.Must(t, err)
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.Must(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, a, ln, nil) }()

	// OTTR_ADDR is usually ":port": the check asks the loopback address.
	if err := healthcheck(":" + port); err != nil {
		t.Fatalf("healthcheck of a running server: %v", err)
	}
	stop()
	storetest.Must(t, <-served)
	if err := healthcheck(":" + port); err == nil {
		t.Fatal("healthcheck passed with the server stopped")
	}
	if err := healthcheck("no port"); err == nil {
		t.Fatal("healthcheck passed with a bad address")
	}
}

// run refuses to start on a database its migrations cannot be applied to,
// and says which migration failed.
func TestRunStopsOnAFailedMigration(t *testing.T) {
	// Not parallel: it sets the environment.
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		cfg := testserver.Config(t, d)
		s, err := store.Open(context.Background(), cfg.DatabaseURL, cfg.DataDir)
		storetest.Must(t, err)
		_, err = s.SQL().Exec("CREATE TABLE projects (id INTEGER PRIMARY KEY)")
		s.Close()
		storetest.Must(t, err)

		t.Setenv("OTTR_DATABASE_URL", cfg.DatabaseURL)
		t.Setenv("OTTR_DATA_DIR", cfg.DataDir)
		t.Setenv("OTTR_JWT_SECRET", string(cfg.JWTSecret))
		t.Setenv("OTTR_ENCRYPTION_KEY", cfg.EncryptionKey)
		t.Setenv("OTTR_ADDR", "127.0.0.1:0")
		err = run(nil)
		if err == nil || !strings.Contains(err.Error(), "database migration failed, not starting") ||
			!strings.Contains(err.Error(), "00001_accounts_projects.sql") {
			t.Fatalf("run = %v, want a refusal naming the failed migration", err)
		}
	})
}

func TestRunRefusesUnknownCommands(t *testing.T) {
	t.Parallel()
	if err := run([]string{"migrate"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("run(migrate) = %v", err)
	}
	if err := run([]string{"healthcheck", "extra"}); err == nil {
		t.Fatal("healthcheck took an extra argument")
	}
}
