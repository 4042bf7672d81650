package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/platform/store"
)

// hub is the plain websocket broadcast of the fan-out baseline, built as
// a broadcast server that keeps up: it speaks just enough
// graphql-transport-ws for the same subscribers (acknowledge the
// connection, take the subscription), and each connection has one writer
// goroutine that takes everything queued for it and writes it at once:
// one websocket frame per message (graphql-transport-ws clients read one
// message per frame), all of them in one write to the socket. When the
// writer keeps up, that is one message per write; when it falls behind,
// the cost per message falls instead of the wait growing. A broadcast
// never waits and never drops a message: it appends to each connection's
// queue. A connection with hubQueueLimit messages waiting is too slow and
// is closed, as the server ends such a subscriber, so that the client
// sees it.
type hub struct {
	mu    sync.Mutex
	conns map[*hubConn]struct{}
}

// hubQueueLimit is the server's default (event.DefaultBuffer).
const hubQueueLimit = 256

// hubWriteTimeout bounds one batch's write to a socket.
const hubWriteTimeout = 10 * time.Second

type hubConn struct {
	ws   *websocket.Conn
	wake chan struct{} // one pending signal at most

	mu     sync.Mutex
	queue  [][]byte
	closed bool
}

// enqueue appends msg to the queue; false means the connection is too slow.
func (c *hubConn) enqueue(msg []byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return true
	}
	if len(c.queue) >= hubQueueLimit {
		c.closed = true
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, msg)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns everything queued; ok is false once the connection is closed.
func (c *hubConn) take(spare [][]byte) (batch [][]byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	batch, c.queue = c.queue, spare[:0]
	return batch, !c.closed
}

func (c *hubConn) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (h *hub) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /query", h.subscribe)
	mux.HandleFunc("POST /publish", h.publish)
	return mux
}

func (h *hub) subscribe(w http.ResponseWriter, r *http.Request) {
	sock := &batchWriter{}
	conn, err := websocket.Accept(hubHijacker{ResponseWriter: w, sock: sock}, r,
		&websocket.AcceptOptions{Subprotocols: []string{subscriptionProtocol}})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := r.Context()
	if _, _, err := conn.Read(ctx); err != nil { // connection_init
		return
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_ack"}`)); err != nil {
		return
	}
	if _, _, err := conn.Read(ctx); err != nil { // subscribe
		return
	}
	c := &hubConn{ws: conn, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	}()
	ctx = conn.CloseRead(ctx)
	var spare [][]byte
	for {
		select {
		case <-c.wake:
		case <-ctx.Done():
			return
		}
		batch, ok := c.take(spare)
		if !ok {
			return
		}
		if len(batch) == 0 {
			continue
		}
		// The library flushes every frame: into the batch writer, which
		// sends them all in one write on release.
		sock.hold()
		for _, msg := range batch {
			if err := conn.Write(context.Background(), websocket.MessageText, msg); err != nil {
				return
			}
		}
		if err := sock.release(); err != nil {
			return
		}
		clear(batch)
		spare = batch
	}
}

// publish broadcasts the event in the body, stamped with the time it
// arrived, in the message the server sends for it.
func (h *hub) publish(w http.ResponseWriter, r *http.Request) {
	at := store.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil || len(body) < 2 {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	msg := make([]byte, 0, len(body)+128)
	msg = append(msg, `{"id":"1","type":"next","payload":{"data":{"projectEvents":`...)
	msg = append(msg, body[:len(body)-1]...)
	msg = fmt.Appendf(msg, `,"occurredAt":%q}}}}`, at.Format(time.RFC3339Nano))
	var slow []*hubConn
	h.mu.Lock()
	for c := range h.conns {
		if !c.enqueue(msg) {
			slow = append(slow, c)
		}
	}
	h.mu.Unlock()
	for _, c := range slow {
		c.close()
		_ = c.ws.CloseNow()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		c.close()
		delete(h.conns, c)
	}
}

// hubHijacker hands the websocket library a connection whose writes go
// through a batchWriter.
type hubHijacker struct {
	http.ResponseWriter
	sock *batchWriter
}

func (h hubHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	h.sock.conn = conn
	brw.Writer.Reset(h.sock)
	return conn, brw, nil
}

// batchWriter holds back the writes to conn between hold and release.
// The library's own writes (control frames) may come from its reader
// goroutine: they never interleave with the batch.
type batchWriter struct {
	conn net.Conn

	mu   sync.Mutex
	held bool
	buf  []byte
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if err := b.conn.SetWriteDeadline(time.Now().Add(hubWriteTimeout)); err != nil {
		return 0, err
	}
	return b.conn.Write(p)
}

func (b *batchWriter) hold() {
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
}

// release writes what was held back, in one write, and stops holding.
func (b *batchWriter) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held = false
	if len(b.buf) == 0 {
		return nil
	}
	if err := b.conn.SetWriteDeadline(time.Now().Add(hubWriteTimeout)); err != nil {
		return err
	}
	_, err := b.conn.Write(b.buf)
	if cap(b.buf) > 64<<10 {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	return err
}
