package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const projectEvents = `subscription($p: ID!, $a: ID) { projectEvents(projectId: $p, after: $a) { id type } }`

// scrape fetches url and fails unless it answers status.
func scrape(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	storetest.Must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, status, body)
	}
	return string(body)
}

// The real server, on listeners of its own, with OTTR_METRICS_ADDR set:
// /metrics answers only on the metrics address and counts the live
// connections; stopping it ends a subscription with SHUTTING_DOWN and
// closes its websocket with 1001.
func TestServeMetricsApartAndStopSubscribers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		cfg := testserver.Config(t, d)
		cfg.MetricsAddr = "127.0.0.1:0"
		a, err := ottr.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		storetest.Must(t, err)
		defer a.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		storetest.Must(t, err)
		metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
		storetest.Must(t, err)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		served := make(chan error, 1)
		go func() { served <- serve(ctx, a, ln, metricsLn) }()
		base, metricsURL := "http://"+ln.Addr().String(), "http://"+metricsLn.Addr().String()+"/metrics"

		srv := testserver.Attach(t, base, a)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("p")
		ws := srv.Connect(testserver.TransportWS, alice.AccessToken)
		sub := ws.Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
		marker := srv.Record(pid, event.ApprovalCreated)
		if r := sub.Next(); len(r.Errors) > 0 || !strings.Contains(string(r.Data), fmt.Sprintf(`"id":"%d"`, marker.ID)) {
			t.Fatalf("first result %+v, want the marker %d", r, marker.ID)
		}

		scrape(t, base+"/metrics", http.StatusNotFound)
		body := scrape(t, metricsURL, http.StatusOK)
		for _, line := range []string{
			`ottr_live_connections{transport="graphql-transport-ws"} 1`,
			`ottr_live_subscriptions{transport="graphql-transport-ws"} 1`,
			`ottr_live_connections{transport="sse"} 0`,
			`ottr_slack_deliveries_total{outcome="delivered"} 0`,
			`ottr_queue_jobs{state="available"} 0`,
			`go_sql_max_open_connections{db_name="ottr"}`,
		} {
			if !strings.Contains(body, line) {
				t.Errorf("metrics lack %s", line)
			}
		}

		stop()
		if r := sub.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != "SHUTTING_DOWN" {
			t.Fatalf("last result %+v, want SHUTTING_DOWN", r)
		}
		if r := sub.Next(); !r.Complete {
			t.Fatalf("got %+v, want complete", r)
		}
		if code, _ := ws.CloseStatus(); code != websocket.StatusGoingAway {
			t.Fatalf("websocket closed with %d, want 1001 (going away)", code)
		}
		storetest.Must(t, <-served)
	})
}
