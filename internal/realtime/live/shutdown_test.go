package live_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/graph"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestStoppingServerEndsSubscriptionsAndClosesWith1001 stops a server the
// way main does while a subscriber waits on each transport: every one gets
// SHUTTING_DOWN as its last result, each websocket then closes with 1001
// (going away), and the SSE stream completes.
func TestStoppingServerEndsSubscriptionsAndClosesWith1001(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		vars := map[string]any{"p": pid, "a": "0"}
		wsNew := srv.Connect(testserver.TransportWS, key)
		wsOld := srv.Connect(testserver.LegacyWS, key)
		subNew, subOld := wsNew.Subscribe(projectEvents, vars), wsOld.Subscribe(projectEvents, vars)
		sse := srv.SubscribeSSE(key, projectEvents, vars)
		marker := subscribed(t, srv, pid, subNew.Next)
		for name, next := range map[string]func() testserver.Result{"graphql-ws": subOld.Next, "sse": sse.Next} {
			if got := nextEvent(t, next); got.ID != id(marker) {
				t.Fatalf("%s: first event %s, want the marker %d", name, got.ID, marker.ID)
			}
		}

		stopped := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stopped <- srv.App.StopLive(ctx)
		}()
		// (Not subtests: the clients fail the test they were made in.)
		expectEnd(t, subNew.Next, "SHUTTING_DOWN")
		expectEnd(t, subOld.Next, "SHUTTING_DOWN")
		expectEnd(t, sse.Next, "SHUTTING_DOWN")
		for name, ws := range map[string]*testserver.WS{"graphql-transport-ws": wsNew, "graphql-ws": wsOld} {
			if code, _ := ws.CloseStatus(); code != websocket.StatusGoingAway {
				t.Errorf("%s closed with %d, want 1001 (going away)", name, code)
			}
		}
		if err := <-stopped; err != nil {
			t.Fatalf("StopLive: %v", err)
		}
	})
}

// TestSubscriptionsPerConnectionAreLimited opens one subscription past the
// limit on each websocket protocol: it alone is refused with
// TOO_MANY_SUBSCRIPTIONS, and the connection and its subscriptions go on.
func TestSubscriptionsPerConnectionAreLimited(t *testing.T) {
	t.Parallel()
	srv, alice, _, _, _ := setup(t, store.SQLite)
	for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
		t.Run(protocol, func(t *testing.T) {
			pid := alice.CreateProject(protocol) // events of its own
			ws := srv.Connect(protocol, alice.AccessToken)
			subs := make([]*testserver.Sub, graph.MaxSubscriptionsPerConnection)
			for i := range subs {
				subs[i] = ws.Subscribe(projectEvents, map[string]any{"p": pid, "t": []string{"APPROVAL_CREATED"}, "a": "0"})
			}
			// Every subscription has started once each got the marker,
			// replayed or live.
			marker := srv.Record(pid, event.ApprovalCreated)
			for i, s := range subs {
				if got := nextEvent(t, s.Next); got.ID != id(marker) {
					t.Fatalf("subscription %d: first event %s, want the marker %d", i, got.ID, marker.ID)
				}
			}
			extra := ws.Subscribe(projectEvents, map[string]any{"p": pid})
			r := extra.Next()
			if len(r.Errors) != 1 || r.Errors[0].Code() != "TOO_MANY_SUBSCRIPTIONS" {
				t.Fatalf("subscription %d: %+v, want TOO_MANY_SUBSCRIPTIONS", len(subs)+1, r)
			}
			if r := extra.Next(); !r.Complete {
				t.Fatalf("refused subscription: %+v, want complete", r)
			}
			// One ends: there is room for another.
			subs[0].Stop()
			deadline := time.Now().Add(5 * time.Second)
			for {
				// From the start: it replays the marker.
				again := ws.Subscribe(projectEvents, map[string]any{"p": pid, "t": []string{"APPROVAL_CREATED"}, "a": "0"})
				r := again.Next()
				if len(r.Errors) == 0 {
					if got := nextEvent(t, func() testserver.Result { return r }); got.ID != id(marker) {
						t.Fatalf("new subscription replayed %s, want the marker %d", got.ID, marker.ID)
					}
					break
				}
				if r.Errors[0].Code() != "TOO_MANY_SUBSCRIPTIONS" || time.Now().After(deadline) {
					t.Fatalf("after one ended: %+v", r)
				}
				again.Next() // complete
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
