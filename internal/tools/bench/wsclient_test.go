package bench

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWSClientAgainstALibraryServer: the subscribers' client against a
// websocket library's server: the handshake with its subprotocol, the
// client's masked messages, messages of every header length, a message
// in fragments, a ping answered while reading, and the server's close.
func TestWSClientAgainstALibraryServer(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 125, 126, wsReadBuffer, wsReadBuffer + 1, 0xffff, 0x10000, 300 << 10}
	pinged := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{subscriptionProtocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		typ, hello, err := ws.Read(ctx) // the client's message, echoed first
		if err != nil {
			return
		}
		if err := ws.Write(ctx, typ, hello); err != nil {
			return
		}
		for _, n := range sizes {
			if err := ws.Write(ctx, websocket.MessageText, bytes.Repeat([]byte{byte('a' + n%26)}, n)); err != nil {
				return
			}
		}
		fw, err := ws.Writer(ctx, websocket.MessageText) // each Write a frame of its own
		if err != nil {
			return
		}
		for _, part := range []string{"frag", "men", "ted"} {
			if _, err := fw.Write([]byte(part)); err != nil {
				return
			}
		}
		if err := fw.Close(); err != nil {
			return
		}
		ctx = ws.CloseRead(ctx) // reads the pong
		pinged <- ws.Ping(ctx)
		_ = ws.Write(ctx, websocket.MessageText, []byte("after the ping"))
		_ = ws.Close(websocket.StatusNormalClosure, "done")
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), subscriptionProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.writeText([]byte(`{"type":"connection_init"}`)); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte(`{"type":"connection_init"}`)}
	for _, n := range sizes {
		want = append(want, bytes.Repeat([]byte{byte('a' + n%26)}, n))
	}
	want = append(want, []byte("fragmented"), []byte("after the ping"))
	for i, w := range want {
		got, err := c.read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("message %d: %d bytes %.20q, want %d bytes %.20q", i, len(got), got, len(w), w)
		}
	}
	if err := <-pinged; err != nil {
		t.Fatalf("the server's ping went unanswered: %v", err)
	}
	if got, err := c.read(); !errors.Is(err, errWSClosed) {
		t.Fatalf("after the last message: %q, %v; want the close", got, err)
	}
}

// TestWSClientRefusesAnotherSubprotocol: a server that does not speak
// graphql-transport-ws is refused at the handshake.
func TestWSClientRefusesAnotherSubprotocol(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err == nil {
			ws.CloseNow()
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), subscriptionProtocol)
	if err == nil {
		c.Close()
		t.Fatal("dial succeeded without the subprotocol")
	}
}
