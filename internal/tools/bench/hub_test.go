package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHubClosesOnlyTheSubscriberThatFellBehind: the fan-out's hub sends
// every message, in order, to a subscriber that reads, and closes one
// that stopped reading once hubQueueLimit messages wait for it, as the
// server ends such a subscriber.
func TestHubClosesOnlyTheSubscriberThatFellBehind(t *testing.T) {
	t.Parallel()
	h := newHub()
	srv := httptest.NewServer(h.routes())
	t.Cleanup(func() { h.closeAll(); srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subscribe := func() *wsClient {
		t.Helper()
		c, err := dialWS(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/query", subscriptionProtocol)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err := c.writeText([]byte(`{"type":"connection_init"}`)); err != nil {
			t.Fatal(err)
		}
		if ack, err := c.read(); err != nil || !bytes.Contains(ack, []byte("connection_ack")) {
			t.Fatalf("acknowledgement: %q, %v", ack, err)
		}
		if err := c.writeText([]byte(`{"type":"subscribe","id":"1","payload":{}}`)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	reader, stalled := subscribe(), subscribe()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		n := len(h.conns)
		h.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 subscribers registered", n)
		}
	}

	pad := strings.Repeat("x", 64<<10) // fills the stalled socket's buffers
	publish := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad)
		resp, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("publish %d: HTTP %d", i, resp.StatusCode)
		}
	}
	const messages = 2 * hubQueueLimit
	got := make(chan error, 1)
	go func() {
		for i := range messages + 1 {
			msg, err := reader.read()
			if err != nil {
				got <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if want := fmt.Sprintf(`"n":%d,`, i); !bytes.Contains(msg, []byte(want)) {
				got <- fmt.Errorf("message %d: %.60q, want %s", i, msg, want)
				return
			}
		}
		got <- nil
	}()
	for i := range messages {
		publish(i)
	}
	time.Sleep(3 * hubWriteDelay) // written, or left waiting for the stalled one
	publish(messages)             // more than hubQueueLimit behind: closed
	if err := <-got; err != nil {
		t.Fatalf("the subscriber that reads: %v", err)
	}
	for i := 0; ; i++ {
		if _, err := stalled.read(); err != nil {
			if i >= messages {
				t.Fatalf("the stalled subscriber read all %d messages before %v; want it closed", i, err)
			}
			break
		}
	}
}
