package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// replayedEvents subscribes from the start of the log, so that an event
// recorded right after the subscribe reaches it however soon.
const replayedEvents = `subscription($p: ID!) { projectEvents(projectId: $p, after: "0") { id } }`

func withLimits(l config.LiveLimits) testserver.Option {
	return func(c *config.Config) { c.Live.Limits = l }
}

// fromAddress dials from ip, a loopback address other than 127.0.0.1, to
// act as another client address.
func fromAddress(t *testing.T, ip string) testserver.DialOption {
	transport := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return func(o *websocket.DialOptions) { o.HTTPClient = &http.Client{Transport: transport} }
}

// awaitHeld waits until the server counts conns connections and subs
// subscriptions against who (a slot frees once the server has seen the
// end).
func awaitHeld(t *testing.T, srv *testserver.Server, who string, conns, subs int) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		c, s := srv.App.Live.Held(who)
		if c == conns && s == subs {
			return
		}
		if time.Since(start) > testserver.ReadTimeout {
			t.Fatalf("%s holds %d connections and %d subscriptions, want %d and %d", who, c, s, conns, subs)
		}
	}
}

// expectRateLimited checks a refusal: RATE_LIMITED, a message that says
// what, and when to try again.
func expectRateLimited(t *testing.T, errs []testserver.GQLError, what string) {
	t.Helper()
	if len(errs) != 1 || errs[0].Code() != "RATE_LIMITED" || !strings.Contains(errs[0].Message, what) ||
		errs[0].Extensions["retryAfterSeconds"] != float64(1) {
		t.Fatalf("got %+v, want RATE_LIMITED about %q with retryAfterSeconds 1", errs, what)
	}
}

// postSSE opens an SSE request and returns its status and, for a refusal,
// its errors.
func postSSE(t *testing.T, srv *testserver.Server, token, pid string) (int, []testserver.GQLError) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": replayedEvents, "variables": map[string]any{"p": pid}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		return resp.StatusCode, nil
	}
	if resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", resp.Header.Get("Retry-After"))
	}
	var out struct{ Errors []testserver.GQLError }
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return resp.StatusCode, out.Errors
}

// expectAccepted checks that each subscription runs: an event recorded
// now reaches it.
func expectAccepted(t *testing.T, srv *testserver.Server, pid string, subs ...*testserver.Sub) {
	t.Helper()
	ev := srv.Record(pid, "APPROVAL_CREATED")
	for _, sub := range subs {
		if errs := untilEvent(t, sub, ev.ID); errs != nil {
			t.Fatalf("subscription %s: %+v, want event %d", sub.ID, errs, ev.ID)
		}
	}
}

// untilEvent reads a subscription until event id arrives (nil), or an
// error does (the errors).
func untilEvent(t *testing.T, sub *testserver.Sub, id int64) []testserver.GQLError {
	t.Helper()
	for {
		r := sub.Next()
		switch {
		case len(r.Errors) > 0:
			return r.Errors
		case r.Complete:
			t.Fatalf("subscription %s completed before event %d", sub.ID, id)
		case strings.Contains(string(r.Data), `"id":"`+strconv.FormatInt(id, 10)+`"`):
			return nil
		}
	}
}

// expectRefused checks that a subscription was refused as RATE_LIMITED
// about what, and ended.
func expectRefused(t *testing.T, sub *testserver.Sub, what string) {
	t.Helper()
	expectRateLimited(t, sub.Next().Errors, what)
	if r := sub.Next(); !r.Complete {
		t.Fatalf("got %+v after the refusal, want complete", r)
	}
}

// One credential may hold only so many websocket and SSE connections: one
// more is refused (4429 at connection_init on both websocket protocols,
// 429 for SSE), other credentials are not, and closing one frees a slot.
func TestConnectionsPerPrincipalAreLimited(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d, withLimits(config.LiveLimits{ConnectionsPerPrincipal: 2}))
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		keyID, key := alice.CreateAPIKey(pid, "READ")
		first := srv.Connect(testserver.TransportWS, key)
		srv.Connect(testserver.LegacyWS, key)

		const what = "this API key already holds 2 open websocket and SSE connections"
		for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
			ws := dial(t, srv, protocol)
			ws.Init(map[string]any{"Authorization": "Bearer " + key})
			if protocol == testserver.LegacyWS {
				m := ws.Read()
				var p struct{ Message string }
				_ = json.Unmarshal(m.Payload, &p)
				if m.Type != "connection_error" || !strings.Contains(p.Message, what) {
					t.Fatalf("got %s %s, want connection_error about %q", m.Type, m.Payload, what)
				}
			}
			code, reason := ws.CloseStatus()
			if code != 4429 || !strings.Contains(reason, what) {
				t.Fatalf("%s: closed with %d %q, want 4429 about %q", protocol, code, reason, what)
			}
		}
		status, errs := postSSE(t, srv, key, pid)
		if status != http.StatusTooManyRequests {
			t.Fatalf("SSE: status %d, want 429", status)
		}
		expectRateLimited(t, errs, what)

		// Another principal is not held back by this one.
		expectAccepted(t, srv, pid, srv.Connect(testserver.TransportWS, alice.AccessToken).Subscribe(replayedEvents, map[string]any{"p": pid}))

		_ = first.Conn.Close(websocket.StatusNormalClosure, "")
		awaitHeld(t, srv, "key:"+keyID, 1, 0)
		expectAccepted(t, srv, pid, srv.Connect(testserver.TransportWS, key).Subscribe(replayedEvents, map[string]any{"p": pid}))
	})
}

// One credential may run only so many subscriptions, over all its
// connections: one more is refused with RATE_LIMITED (over a websocket the
// connection stays; over SSE the stream ends), and completing one frees a
// slot.
func TestSubscriptionsPerPrincipalAreLimited(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d, withLimits(config.LiveLimits{SubscriptionsPerPrincipal: 3}))
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		keyID, key := alice.CreateAPIKey(pid, "READ")
		vars := map[string]any{"p": pid}
		a := srv.Connect(testserver.TransportWS, key)
		b := srv.Connect(testserver.LegacyWS, key)
		a1, a2, b1 := a.Subscribe(replayedEvents, vars), a.Subscribe(replayedEvents, vars), b.Subscribe(replayedEvents, vars)
		awaitHeld(t, srv, "key:"+keyID, 2, 3)

		const what = "this API key already runs 3 subscriptions"
		expectRefused(t, b.Subscribe(replayedEvents, vars), what)
		expectRefused(t, a.Subscribe(replayedEvents, vars), what)
		sse := srv.SubscribeSSE(key, replayedEvents, vars)
		expectRateLimited(t, sse.Next().Errors, what)
		expectAccepted(t, srv, pid, a1, a2, b1) // the refusals ended nothing else

		a1.Stop()
		awaitHeld(t, srv, "key:"+keyID, 2, 2)
		expectAccepted(t, srv, pid, b.Subscribe(replayedEvents, vars), a2, b1)
	})
}

// One client address may hold only so many connections (429 before the
// upgrade or the stream) and run only so many subscriptions, whatever the
// credentials; other addresses are not held back, and closing frees a
// slot.
func TestConnectionsAndSubscriptionsPerAddressAreLimited(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d, withLimits(config.LiveLimits{ConnectionsPerAddress: 2, SubscriptionsPerAddress: 2}))
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		_, key := alice.CreateAPIKey(pid, "READ")
		vars := map[string]any{"p": pid}

		first := srv.Connect(testserver.TransportWS, "")
		srv.Connect(testserver.LegacyWS, key)
		const what = "this client address already holds 2 open websocket and SSE connections"
		for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
			_, resp, err := srv.DialWS(protocol, nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("%s: dial %v, want 429", protocol, err)
			}
		}
		status, errs := postSSE(t, srv, key, pid)
		if status != http.StatusTooManyRequests {
			t.Fatalf("SSE: status %d, want 429", status)
		}
		expectRateLimited(t, errs, what)

		// Another address, the same key: its own connections, and only two
		// subscriptions.
		other := fromAddress(t, "127.0.0.2")
		ws := srv.Connect(testserver.TransportWS, key, other)
		s1, s2 := ws.Subscribe(replayedEvents, vars), srv.Connect(testserver.LegacyWS, key, other).Subscribe(replayedEvents, vars)
		awaitHeld(t, srv, "127.0.0.2", 2, 2)
		expectRefused(t, ws.Subscribe(replayedEvents, vars), "this client address already runs 2 subscriptions")
		expectAccepted(t, srv, pid, s1, s2)
		s1.Stop()
		awaitHeld(t, srv, "127.0.0.2", 2, 1)
		expectAccepted(t, srv, pid, ws.Subscribe(replayedEvents, vars), s2)

		_ = first.Conn.Close(websocket.StatusNormalClosure, "")
		awaitHeld(t, srv, "127.0.0.1", 1, 0)
		srv.Connect(testserver.TransportWS, key)
	})
}

// The probe: one READ key held 20 websocket connections of 100
// subscriptions each. With the default limits it gets 25 connections and
// 250 subscriptions in all.
func TestOneKeyCannotHoldThousandsOfSubscriptions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		keyID, key := alice.CreateAPIKey(pid, "READ")
		var conns []*testserver.WS
		for range config.DefaultConnectionsPerPrincipal {
			conns = append(conns, srv.Connect(testserver.TransportWS, key))
		}
		ws := dial(t, srv, testserver.TransportWS)
		ws.Init(map[string]any{"Authorization": "Bearer " + key})
		expectClose(t, ws, 4429)

		var subs []*testserver.Sub
		for _, ws := range conns[:3] {
			for range 100 {
				subs = append(subs, ws.Subscribe(replayedEvents, map[string]any{"p": pid}))
			}
		}
		awaitHeld(t, srv, "key:"+keyID, config.DefaultConnectionsPerPrincipal, config.DefaultSubscriptionsPerPrincipal)
		ev := srv.Record(pid, "APPROVAL_CREATED")
		var accepted, refused int
		for _, sub := range subs {
			if errs := untilEvent(t, sub, ev.ID); errs != nil {
				expectRateLimited(t, errs, "this API key already runs 250 subscriptions")
				refused++
			} else {
				accepted++
			}
		}
		if accepted != config.DefaultSubscriptionsPerPrincipal || refused != 300-config.DefaultSubscriptionsPerPrincipal {
			t.Fatalf("%d subscriptions ran and %d were refused, want %d and %d", accepted, refused,
				config.DefaultSubscriptionsPerPrincipal, 300-config.DefaultSubscriptionsPerPrincipal)
		}
	})
}
