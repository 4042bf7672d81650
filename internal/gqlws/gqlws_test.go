package gqlws

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
// leaves the rest held back, in order, with what is written meanwhile
// after it; release writes it all.
func TestCorkKeepsWhatTheSocketDidNotTake(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe() // no buffer: a write waits for the reader
	defer server.Close()
	defer client.Close()
	c := &cork{conn: server, timeout: 5 * time.Second}
	c.hold()
	first := bytes.Repeat([]byte("a"), 1000)
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	done, err := c.tryRelease()
	if err != nil || done {
		t.Fatalf("tryRelease = %v, %v; want not done, no error", done, err)
	}
	second := []byte("b") // a control frame while the rest waits
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
