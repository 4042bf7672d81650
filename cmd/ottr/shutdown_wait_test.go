package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A REST long-poll in flight does not hold a shutdown up: it answers at
// once with the approval's current state, and the client polls again.
func TestShutdownAnswersWaits(t *testing.T) {
	if storetest.SQLiteOnly() {
		t.Skip("needs PostgreSQL: two instances share one database (OTTR_TEST_SQLITE_ONLY=1 is set)")
	}
	t.Parallel()
	cfg := testserver.Config(t, store.Postgres)
	setup := testserver.StartWith(t, cfg)
	owner := setup.SignUp("Owner")
	_, key := owner.CreateAPIKey(owner.CreateProject("ci"), "WRITE")
	req, _ := http.NewRequest(http.MethodPost, setup.URL+"/v1/approvals", strings.NewReader(`{"key_path": "deploy/x", "value": "yes"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	storetest.Must(t, err)
	var created struct{ ID string }
	storetest.Must(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()

	a, err := ottr.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	storetest.Must(t, err)
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.Must(t, err)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, a, ln, nil) }()

	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/v1/approvals/"+created.ID+"?wait=60s", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(b), err}
	}()
	// The wait is under way once its live stream subscribes to the feed
	// (nothing else subscribes here).
	for deadline := time.Now().Add(30 * time.Second); a.Feed.Broker().Empty(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the wait did not start within 30 s")
		}
	}
	stop() // as SIGTERM does
	select {
	case r := <-answered:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"status":"pending"`) {
			t.Fatalf("the wait answered %d %v %s", r.status, r.err, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait held the shutdown up for 10 s")
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
