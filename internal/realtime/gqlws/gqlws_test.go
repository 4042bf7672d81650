package gqlws

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/platform/socket"
)

func TestSupportsTakesOnlyGraphQLTransportWS(t *testing.T) {
	t.Parallel()
	tr := New(Options{})
	for _, tc := range []struct {
		protocols []string
		want      bool
	}{
		{[]string{"graphql-transport-ws"}, true},
		{[]string{"foo, graphql-transport-ws"}, true},
		{[]string{"graphql-ws"}, false},
		// gqlgen's transport picks the legacy protocol when both are offered.
		{[]string{"graphql-transport-ws, graphql-ws"}, false},
		{[]string{"graphql-transport-ws", "graphql-ws"}, false},
		{nil, false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/query", nil)
		r.Header.Set("Upgrade", "websocket")
		for _, p := range tc.protocols {
			r.Header.Add("Sec-WebSocket-Protocol", p)
		}
		if got := tr.Supports(r); got != tc.want {
			t.Errorf("%q: Supports = %v, want %v", tc.protocols, got, tc.want)
		}
	}
	plain, _ := http.NewRequest(http.MethodPost, "/query", nil)
	if tr.Supports(plain) {
		t.Error("a request without Upgrade is supported")
	}
}

// TestCorkKeepsWhatTheSocketDidNotTake: a socket that takes nothing at once
// leaves the messages held back, in order, with what is written meanwhile
// after them; release writes it all.
func TestCorkKeepsWhatTheSocketDidNotTake(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe() // no buffer: a write waits for the reader
	defer server.Close()
	defer client.Close()
	c := &cork{conn: server, timeout: 5 * time.Second}
	batch := []frame{{a: bytes.Repeat([]byte("a"), 1000)}}
	_, ok, done, err := c.tryWrite(batch, nil)
	if err != nil || !ok || done {
		t.Fatalf("tryWrite = %v, %v, %v; want written in part, no error", ok, done, err)
	}
	releaseInOrder(t, c, client, appendFrames(nil, batch))
}

// TestSlowInitDoesNotDropAnAnsweringClient: while connection_init is being
// checked the reader reads nothing, pongs included; a check that takes
// longer than two keep-alive intervals must not get the client, which
// answers every ping at once, dropped as dead. Pings start with the
// acknowledgement, and go on while answered.
func TestSlowInitDoesNotDropAnAnsweringClient(t *testing.T) {
	t.Parallel()
	const keepAlive = 20 * time.Millisecond
	tr := New(Options{
		Init: func(ctx context.Context, _ map[string]any) (context.Context, error) {
			time.Sleep(5 * keepAlive) // a credential check on a busy database
			return ctx, nil
		},
		InitTimeout:  10 * time.Second,
		KeepAlive:    keepAlive,
		WriteTimeout: 10 * time.Second,
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tr.Do(w, r, nil) }))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(typ string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"`+typ+`"}`)); err != nil {
			t.Fatalf("write %s: %v", typ, err)
		}
	}
	send("connection_init")
	var acked bool
	for pings := 0; pings < 3; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d pings (acknowledged: %v): %v", pings, acked, err)
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Type == "connection_ack" && !acked:
			acked = true
		case m.Type == "ping" && acked:
			pings++
			send("pong")
		default:
			t.Fatalf("got %s (acknowledged: %v), want the acknowledgement, then pings", data, acked)
		}
	}
}

// TestCorkOnASocketWritesWithoutWaiting: on a TCP socket a shared writer's
// write is one non-blocking write; what a full socket did not take stays
// held back, in order, and release writes it all.
func TestCorkOnASocketWritesWithoutWaiting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("no connection accepted")
	}
	defer server.Close()
	rc, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// The client reads nothing yet: a write that waited for the socket
	// would wait until this deadline and fail, so no error is the proof
	// that tryWrite did not wait. No clock is read: framing and copying
	// 32 MiB take their time on a busy machine.
	if err := server.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := &cork{conn: server, raw: rc, timeout: 10 * time.Second}
	batch := []frame{{a: bytes.Repeat([]byte("a"), 32<<20)}} // more than the socket's buffers
	first := appendFrames(nil, batch)
	_, ok, done, err := c.tryWrite(batch, nil)
	if err != nil || !ok || done {
		t.Fatalf("tryWrite = %v, %v, %v; want written in part, no error", ok, done, err)
	}
	if len(c.buf) == 0 || len(c.buf) >= len(first) {
		t.Fatalf("%d bytes held back of %d: want the part the socket did not take", len(c.buf), len(first))
	}
	releaseInOrder(t, c, client, first)
	// Caught up: the next quick write goes out whole, even after the
	// deadline of release's write has passed.
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	last := []frame{{a: []byte("c")}}
	if _, ok, done, err := c.tryWrite(last, nil); err != nil || !ok || !done {
		t.Fatalf("tryWrite on an empty socket = %v, %v, %v; want done", ok, done, err)
	}
	want := appendFrames(nil, last)
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(client, buf); err != nil || !bytes.Equal(buf, want) {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

// releaseInOrder writes one more frame (a control frame while the rest
// waits) and releases the cork: the client reads what was held back,
// then that frame, in order.
func releaseInOrder(t *testing.T, c *cork, client net.Conn, first []byte) {
	t.Helper()
	second := []byte("b")
	if _, err := c.Write(second); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(first)+len(second))))
		got <- b
	}()
	if err := c.release(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, append(first, second...)) {
		t.Fatalf("read %d bytes, want the %d held back in order", len(b), len(first)+len(second))
	}
}

// TestFramedMessagesReachTheClientWhole: the messages the cork frames
// itself, at each header length (7, 16 and 64 bits), read back whole by a
// websocket client, with a control frame of the library's between them;
// nothing framed after a close frame is sent.
func TestFramedMessagesReachTheClientWhole(t *testing.T) {
	t.Parallel()
	type serverSide struct {
		ws *websocket.Conn
		ck *cork
	}
	accepted := make(chan serverSide, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck := &cork{timeout: 10 * time.Second}
		ws, err := websocket.Accept(socket.Hijacker{ResponseWriter: w, Wrap: ck.attach}, r, nil)
		if err != nil {
			return
		}
		accepted <- serverSide{ws, ck}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	client.SetReadLimit(1 << 21)
	s := <-accepted
	defer s.ws.CloseNow()

	var batch []frame
	for _, n := range []int{0, 1, 125, 126, 200, 0xffff, 0x10000, 1 << 20} {
		body := bytes.Repeat([]byte{'x'}, n)
		if n%2 == 0 {
			batch = append(batch, frame{a: body})
		} else { // a head, a payload and the closing brace
			batch = append(batch, frame{a: body[:n/2], b: body[n/2 : n-1]})
		}
	}
	s.ck.hold()
	s.ck.appendText(batch[:4])
	pinged := make(chan error, 1)
	go func() { pinged <- s.ws.Ping(ctx) }() // the client's reader answers it
	s.ck.appendText(batch[4:])
	if err := s.ck.release(); err != nil {
		t.Fatal(err)
	}
	for i, f := range batch {
		typ, got, err := client.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := append(append([]byte{}, f.a...), f.b...)
		if f.b != nil {
			want = append(want, '}')
		}
		if typ != websocket.MessageText || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %v of %d bytes, want text of %d", i, typ, len(got), len(want))
		}
	}

	// The server closes; a message framed after its close frame stays out.
	closed := make(chan error, 1)
	go func() { closed <- s.ws.Close(websocket.StatusNormalClosure, "bye") }()
	for s.ck.mu.Lock(); !s.ck.closed; s.ck.mu.Lock() {
		s.ck.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	s.ck.mu.Unlock()
	if _, ok, done, err := s.ck.tryWrite([]frame{{a: []byte("after close")}}, nil); !ok || !done || err != nil {
		t.Fatalf("tryWrite after the close frame = %v, %v, %v; want done, nothing written", ok, done, err)
	}
	s.ck.hold()
	s.ck.appendText([]frame{{a: []byte("after close")}})
	if err := s.ck.release(); err != nil {
		t.Fatal(err)
	}
	_, got, err := client.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the close frame: read %q, %v; want the close", got, err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("ping: %v", err)
	}
}
