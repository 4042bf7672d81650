package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

const projectEvents = `subscription($p: ID!) { projectEvents(projectId: $p) { id } }`

// start runs a server on SQLite: the websocket protocol does not depend on
// the database.
func start(t *testing.T, opts ...testserver.Option) *testserver.Server {
	t.Helper()
	return testserver.Start(t, store.SQLite, opts...)
}

func expectClose(t *testing.T, ws *testserver.WS, want websocket.StatusCode) {
	t.Helper()
	if code, reason := ws.CloseStatus(); code != want {
		t.Fatalf("closed with %d %q, want %d", code, reason, want)
	}
}

func dial(t *testing.T, srv *testserver.Server, protocol string) *testserver.WS {
	t.Helper()
	ws, _, err := srv.DialWS(protocol, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return ws
}

func TestBadCredentialsCloseWith4403(t *testing.T) {
	t.Parallel()
	srv := start(t)
	for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
		for name, payload := range map[string]map[string]any{
			"unknown key":            {"Authorization": "Bearer otw_not-a-real-key"},
			"bad token in authToken": {"authToken": "not.a.jwt"},
			"scheme without token":   {"Authorization": "Bearer "},
		} {
			t.Run(protocol+"/"+name, func(t *testing.T) {
				ws := dial(t, srv, protocol)
				ws.Init(payload)
				if protocol == testserver.LegacyWS {
					// The legacy protocol says why before closing.
					if m := ws.Read(); m.Type != "connection_error" {
						t.Fatalf("got %s, want connection_error", m.Type)
					}
				}
				expectClose(t, ws, 4403)
			})
		}
	}
}

// A connection_init whose credentials are not a string, or whose payload
// is not an object, is malformed: 4400 on both protocols (the legacy one
// says why first), never an anonymous acknowledgement.
func TestMalformedInitClosesWith4400(t *testing.T) {
	t.Parallel()
	srv := start(t)
	for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
		for name, payload := range map[string]string{
			"Authorization a number":   `{"Authorization": 5}`,
			"authorization a boolean":  `{"authorization": true}`,
			"authToken an object":      `{"authToken": {"token": "x"}}`,
			"Authorization a list":     `{"Authorization": ["Bearer x"]}`,
			"good and bad credentials": `{"Authorization": "Bearer x", "authToken": 7}`,
			"payload a string":         `"Bearer otr_x"`,
			"payload a list":           `[1]`,
			"payload a number":         `5`,
		} {
			t.Run(protocol+"/"+name, func(t *testing.T) {
				ws := dial(t, srv, protocol)
				ws.Send(testserver.Message{Type: "connection_init", Payload: json.RawMessage(payload)})
				if protocol == testserver.LegacyWS {
					if m := ws.Read(); m.Type != "connection_error" {
						t.Fatalf("got %s %s, want connection_error", m.Type, m.Payload)
					}
				}
				expectClose(t, ws, 4400)
			})
		}
	}
}

// Null credentials, as a client that has none may send, are no
// credentials.
func TestNullCredentialsAreAnonymous(t *testing.T) {
	t.Parallel()
	srv := start(t)
	for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
		ws := dial(t, srv, protocol)
		ws.Send(testserver.Message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization": null}`)})
		if m := ws.Read(); m.Type != "connection_ack" {
			t.Fatalf("%s: got %s %s, want connection_ack", protocol, m.Type, m.Payload)
		}
		sub := ws.Subscribe(`subscription($p: ID!) { projectEvents(projectId: $p) { id } }`, map[string]any{"p": "00000000-0000-0000-0000-000000000000"})
		if r := sub.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Fatalf("%s: got %+v, want UNAUTHENTICATED", protocol, r)
		}
	}
}

func TestCredentialsInInitPayload(t *testing.T) {
	t.Parallel()
	srv := start(t)
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("P")
	_, key := alice.CreateAPIKey(pid, "READ")
	for name, payload := range map[string]map[string]any{
		"Authorization":            {"Authorization": "Bearer " + key},
		"lower-case authorization": {"authorization": "Bearer " + alice.AccessToken},
		"authToken":                {"authToken": key},
	} {
		t.Run(name, func(t *testing.T) {
			ws := dial(t, srv, testserver.TransportWS)
			ws.Init(payload)
			if m := ws.Read(); m.Type != "connection_ack" {
				t.Fatalf("got %s, want connection_ack", m.Type)
			}
			sub := ws.Subscribe(`subscription($p: ID!) { projectEvents(projectId: $p, after: "0") { id } }`, map[string]any{"p": pid})
			ev := srv.Record(pid, "APPROVAL_CREATED")
			r := sub.Next()
			if len(r.Errors) > 0 || !json.Valid(r.Data) {
				t.Fatalf("got %+v, want event %d", r, ev.ID)
			}
		})
	}
}

func TestSubscribeBeforeInitClosesWith4401(t *testing.T) {
	t.Parallel()
	srv := start(t)
	ws := dial(t, srv, testserver.TransportWS)
	ws.Subscribe(projectEvents, map[string]any{"p": "x"})
	expectClose(t, ws, 4401)
}

func TestSecondInitClosesWith4429(t *testing.T) {
	t.Parallel()
	srv := start(t)
	ws := srv.Connect(testserver.TransportWS, "")
	ws.Init(nil)
	expectClose(t, ws, 4429)
}

func TestDuplicateOperationIDClosesWith4409(t *testing.T) {
	t.Parallel()
	srv := start(t)
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("P")
	_, key := alice.CreateAPIKey(pid, "READ")
	ws := srv.Connect(testserver.TransportWS, key)
	payload, _ := json.Marshal(map[string]any{"query": projectEvents, "variables": map[string]any{"p": pid}})
	ws.Send(testserver.Message{Type: "subscribe", ID: "same", Payload: payload})
	ws.Send(testserver.Message{Type: "subscribe", ID: "same", Payload: payload})
	expectClose(t, ws, 4409)
}

func TestInvalidMessageClosesWith4400(t *testing.T) {
	t.Parallel()
	srv := start(t)
	for name, msg := range map[string]string{"not JSON": "{", "unknown type": `{"type":"hello"}`, "subscribe without id": `{"type":"subscribe","payload":{"query":"{ __typename }"}}`} {
		t.Run(name, func(t *testing.T) {
			ws := srv.Connect(testserver.TransportWS, "")
			ctx, cancel := context.WithTimeout(context.Background(), testserver.ReadTimeout)
			defer cancel()
			if err := ws.Conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			expectClose(t, ws, 4400)
		})
	}
}

// TestOperationsOverTransportWS: queries and errors go through the
// executor as over HTTP: a result then complete, validation errors as a
// result with BAD_USER_INPUT, and a client's ping is answered.
func TestOperationsOverTransportWS(t *testing.T) {
	t.Parallel()
	srv := start(t)
	alice := srv.SignUp("Alice")
	ws := srv.Connect(testserver.TransportWS, alice.AccessToken)
	ws.Send(testserver.Message{Type: "ping"})
	if m := ws.Read(); m.Type != "pong" {
		t.Fatalf("got %s, want pong", m.Type)
	}
	me := ws.Subscribe(`{ me { id } }`, nil)
	if r := me.Next(); len(r.Errors) > 0 || !strings.Contains(string(r.Data), alice.ID) {
		t.Fatalf("got %+v, want the user", r)
	}
	if r := me.Next(); !r.Complete {
		t.Fatalf("got %+v, want complete", r)
	}
	bad := ws.Subscribe(`{ noSuchField }`, nil)
	if r := bad.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("got %+v, want GRAPHQL_VALIDATION_FAILED", r)
	}
	if r := bad.Next(); !r.Complete {
		t.Fatalf("got %+v, want complete", r)
	}
}

func TestInitTimeoutClosesWith4408(t *testing.T) {
	t.Parallel()
	srv := start(t, func(c *config.Config) { c.Live.InitTimeout = 50 * time.Millisecond })
	for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
		expectClose(t, dial(t, srv, protocol), 4408)
	}
}

// readRaw reads messages without answering pings, until n messages of type
// typ arrived or the connection fails.
func readRaw(t *testing.T, ws *testserver.WS, typ string, n int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testserver.ReadTimeout)
	defer cancel()
	for seen := 0; seen < n; {
		_, b, err := ws.Conn.Read(ctx)
		if err != nil {
			return err
		}
		var m testserver.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if m.Type == typ {
			seen++
		}
	}
	return nil
}

func TestKeepAlives(t *testing.T) {
	t.Parallel()
	srv := start(t, func(c *config.Config) { c.Live.KeepAlive = 20 * time.Millisecond })

	t.Run("graphql-ws sends ka", func(t *testing.T) {
		t.Parallel()
		if err := readRaw(t, srv.Connect(testserver.LegacyWS, ""), "ka", 3); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("graphql-transport-ws pings and stays open while answered", func(t *testing.T) {
		t.Parallel()
		// The client answers pings as it reads: the interval leaves it time
		// between two reads (the deadline for a pong is two intervals),
		// also on a machine busy with the other parallel tests.
		srv := start(t, func(c *config.Config) { c.Live.KeepAlive = 250 * time.Millisecond })
		ws := srv.Connect(testserver.TransportWS, "")
		for ws.Pings < 5 { // far past the missing-pong deadline
			ws.Subscribe(`subscription { projectEvents(projectId: "none") { id } }`, nil)
			if r, err := ws.TryRead(); err != nil || r.Type != "next" {
				t.Fatalf("got %+v, %v; want the UNAUTHENTICATED result", r, err)
			}
			ws.Read() // complete
		}
	})
	t.Run("graphql-transport-ws closes without pong", func(t *testing.T) {
		t.Parallel()
		err := readRaw(t, srv.Connect(testserver.TransportWS, ""), "never", 1)
		// Our own read deadline would also end the read: only the server's
		// drop counts.
		if err == nil || errors.Is(err, context.DeadlineExceeded) || websocket.CloseStatus(err) == websocket.StatusNormalClosure {
			t.Fatalf("read ended with %v, want the connection dropped", err)
		}
	})
}

func TestWebsocketOriginCheck(t *testing.T) {
	t.Parallel()
	srv := start(t) // OTTR_CORS_ORIGINS: http://localhost:5173
	for origin, allowed := range map[string]bool{
		"":                       true, // not a browser
		"http://localhost:5173":  true,
		"https://localhost:5173": false, // another scheme is another origin
		"https://evil.example":   false,
	} {
		header := http.Header{}
		if origin != "" {
			header.Set("Origin", origin)
		}
		ws, resp, err := srv.DialWS(testserver.TransportWS, header)
		switch {
		case allowed && err != nil:
			t.Errorf("Origin %q refused: %v", origin, err)
		case !allowed && err == nil:
			t.Errorf("Origin %q accepted", origin)
			_ = ws.Conn.CloseNow()
		case !allowed && (resp == nil || resp.StatusCode != http.StatusForbidden):
			t.Errorf("Origin %q: got %v, want 403", origin, resp)
		}
	}
}

func TestSSEKeepAlive(t *testing.T) {
	t.Parallel()
	srv := start(t, func(c *config.Config) { c.Live.KeepAlive = time.Millisecond })
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("P")
	_, key := alice.CreateAPIKey(pid, "READ")

	live := srv.SubscribeSSE(key, projectEvents, map[string]any{"p": pid})
	deadline := time.Now().Add(testserver.ReadTimeout)
	for live.Pings() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if live.Pings() < 3 {
		t.Fatalf("%d keep-alives received, want 3", live.Pings())
	}
	// Streams that end at once while keep-alives tick: none may write to a
	// finished response (the race detector watches).
	for range 30 {
		refused := srv.SubscribeSSE("", projectEvents, map[string]any{"p": pid})
		if r := refused.Next(); len(r.Errors) == 0 {
			t.Fatalf("anonymous SSE subscription got %+v", r)
		}
		if r := refused.Next(); !r.Complete {
			t.Fatalf("got %+v, want complete", r)
		}
	}
}

// TestStalledClientIsDisconnected: a client that stops reading, once its
// socket is full, is disconnected after two keep-alive intervals instead of
// holding the server's writer forever.
func TestStalledClientIsDisconnected(t *testing.T) {
	t.Parallel()
	for _, protocol := range []string{testserver.LegacyWS, testserver.TransportWS} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			stalledClientIsDisconnected(t, protocol)
		})
	}
}

func stalledClientIsDisconnected(t *testing.T, protocol string) {
	srv := start(t, func(c *config.Config) { c.Live.KeepAlive = 100 * time.Millisecond })
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("P")
	_, key := alice.CreateAPIKey(pid, "READ")
	ws := srv.Connect(protocol, key, testserver.ReceiveBuffer(16<<10))
	ws.Subscribe(`subscription($p: ID!) { projectEvents(projectId: $p, after: "0") { id keyPath } }`, map[string]any{"p": pid})

	const events = 200 // 12.5 MiB: more than the socket buffers hold
	big := strings.Repeat("x", 64<<10)
	for range events {
		srv.RecordEvent(event.Event{Type: event.PinFailed, ProjectID: pid, KeyPath: big})
	}
	// The client reads nothing until the server has let the connection go:
	// however slow the machine, its writer stalls on the full socket and
	// gives up after the write timeout.
	awaitHeld(t, srv, "127.0.0.1", 0, 0)
	for received := 0; ; {
		m, err := ws.TryRead()
		if err != nil {
			// A drop shows as an end of stream, or as a reset when what the
			// server had not read yet was pending as it closed; either way
			// it is the server's only if the server counts the connection
			// closed (our own read deadline proves nothing).
			if websocket.CloseStatus(err) != -1 || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read ended with %v, want the connection dropped", err)
			}
			awaitHeld(t, srv, "127.0.0.1", 0, 0)
			return
		}
		if m.Type == "data" || m.Type == "next" {
			received++
		}
		if received == events || m.Type == "error" || m.Type == "complete" {
			t.Fatalf("got %s message after %d events: the connection outlived the write timeout", m.Type, received)
		}
	}
}

// TestLoneSurrogateRefusalsShareTheWireWithResults: while a subscription's
// results are being written, start messages whose variables carry a lone
// surrogate are refused from the connection's reader. Every message still
// arrives whole and in order: each refusal is an error for its operation
// (followed at once by its complete on the legacy protocol), and the
// subscription receives every event.
func TestLoneSurrogateRefusalsShareTheWireWithResults(t *testing.T) {
	t.Parallel()
	for _, protocol := range []string{testserver.LegacyWS, testserver.TransportWS} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			surrogateRefusalsShareTheWire(t, protocol)
		})
	}
}

func surrogateRefusalsShareTheWire(t *testing.T, protocol string) {
	srv := start(t)
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("P")
	_, key := alice.CreateAPIKey(pid, "READ")
	ws := srv.Connect(protocol, key)
	sub := ws.Subscribe(replayedEvents, map[string]any{"p": pid})
	expectAccepted(t, srv, pid, sub)

	start := "subscribe"
	if protocol == testserver.LegacyWS {
		start = "start"
	}
	const events, refusalsPerEvent = 40, 5
	query, _ := json.Marshal(projectEvents)
	var want []string
	refused := map[string]bool{}
	for i := range events {
		// The event's result is written while the refusals are.
		want = append(want, strconv.FormatInt(srv.Record(pid, "APPROVAL_CREATED").ID, 10))
		for j := range refusalsPerEvent {
			id := "bad-" + strconv.Itoa(i*refusalsPerEvent+j)
			refused[id] = false
			raw := `{"type":"` + start + `","id":"` + id + `","payload":{"query":` + string(query) +
				`,"variables":{"p":"a\ud800b"}}}`
			if err := ws.Conn.Write(context.Background(), websocket.MessageText, []byte(raw)); err != nil {
				t.Fatal(err)
			}
		}
	}

	var got []string
	for len(got) < events || len(refused) > 0 {
		m := ws.Read()
		switch {
		case m.ID == sub.ID && (m.Type == "data" || m.Type == "next"):
			var r struct {
				Data struct{ ProjectEvents struct{ ID string } }
			}
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatalf("result %s: %v", m.Payload, err)
			}
			got = append(got, r.Data.ProjectEvents.ID)
		case m.Type == "error":
			if _, ok := refused[m.ID]; !ok {
				t.Fatalf("error for operation %q: %s", m.ID, m.Payload)
			}
			var errs []testserver.GQLError
			if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 ||
				errs[0].Code() != "BAD_USER_INPUT" || errs[0].Field() != "p" || !strings.Contains(errs[0].Message, "surrogate") {
				t.Fatalf("operation %s refused with %s, want BAD_USER_INPUT on p about the surrogate", m.ID, m.Payload)
			}
			if protocol == testserver.LegacyWS {
				if c := ws.Read(); c.Type != "complete" || c.ID != m.ID {
					t.Fatalf("after the refusal of %s came %s %s %s, want its complete", m.ID, c.Type, c.ID, c.Payload)
				}
			}
			delete(refused, m.ID)
		default:
			t.Fatalf("unexpected %s message for %q: %s", m.Type, m.ID, m.Payload)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("subscription received events %v, want %v", got, want)
	}
}
