package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/platform/socket"
	"github.com/ottr/backend/internal/platform/store"
)

// hub is the plain websocket broadcast of the fan-out baseline, built as
// the fastest Go broadcast servers are: the least work a server must do
// to deliver every message to every subscriber. It speaks just enough
// graphql-transport-ws for the same subscribers (acknowledge the
// connection, take the subscription).
//
// Writes are batched per connection, as in Centrifuge's WriteDelay: the
// messages published within hubWriteDelay are framed once, one after the
// other, and those same bytes go to every socket in one non-blocking
// write(2), on as many goroutines as there are cores, each taking its
// share of the connections. Over loopback a write costs the sender the
// receiver's side of TCP too, about as much for one message as for
// several, so a write per message and subscriber cannot keep up with
// 500,000 deliveries a second on two cores; a write per batch can.
//
// A socket that does not take the whole batch keeps the rest, and what
// comes after, for a goroutine of its own, which writes it all at once as
// soon as the socket takes more. A broadcast never waits and never drops a
// message. A connection with hubQueueLimit messages waiting is too slow
// and is closed, as the server ends such a subscriber, so that the client
// sees it.
type hub struct {
	writing sync.Mutex // one write at a time, so that batches go out in order

	mu      sync.Mutex
	conns   map[*hubSocket]struct{}
	list    []*hubSocket // conns as a slice, rebuilt after a change
	batch   []byte       // frames published since the last write
	batched int          // messages in batch
}

// hubWriteDelay is how long a published message waits for others to be
// written with it.
const hubWriteDelay = 100 * time.Millisecond

// hubQueueLimit is the server's default (event.DefaultBuffer).
const hubQueueLimit = 256

// hubWriteTimeout bounds a write that waits for a socket.
const hubWriteTimeout = 10 * time.Second

func newHub() *hub { return &hub{conns: map[*hubSocket]struct{}{}} }

func (h *hub) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /query", h.subscribe)
	mux.HandleFunc("POST /publish", h.publish)
	return mux
}

func (h *hub) subscribe(w http.ResponseWriter, r *http.Request) {
	sock := &hubSocket{}
	conn, err := websocket.Accept(socket.Hijacker{ResponseWriter: w, Wrap: sock.attach}, r,
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
	h.mu.Lock()
	h.conns[sock] = struct{}{}
	h.list = nil
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, sock)
		h.list = nil
		h.mu.Unlock()
	}()
	// The library reads on, for control frames, until the connection ends.
	<-conn.CloseRead(ctx).Done()
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
	h.mu.Lock()
	if h.batched == 0 {
		time.AfterFunc(hubWriteDelay, h.write)
	}
	h.batch = appendTextFrame(h.batch, msg)
	h.batched++
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// write sends what was published since the last write to every
// subscriber.
func (h *hub) write() {
	// A write that takes longer than hubWriteDelay has the next batch's
	// wait behind it, and that batch is taken only once this one is out.
	h.writing.Lock()
	defer h.writing.Unlock()
	h.mu.Lock()
	batch, n := h.batch, h.batched
	h.batch, h.batched = nil, 0
	if h.list == nil {
		h.list = make([]*hubSocket, 0, len(h.conns))
		for s := range h.conns {
			h.list = append(h.list, s)
		}
	}
	list := h.list
	h.mu.Unlock()
	var wg sync.WaitGroup
	shares := runtime.GOMAXPROCS(0)
	per := max((len(list)+shares-1)/shares, 1)
	for start := 0; start < len(list); start += per {
		share := list[start:min(start+per, len(list))]
		wg.Go(func() {
			for _, s := range share {
				s.send(batch, n)
			}
		})
	}
	wg.Wait()
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.conns {
		s.close()
		delete(h.conns, s)
	}
	h.list = nil
}

// appendTextFrame appends msg as one final, unmasked text frame.
func appendTextFrame(b, msg []byte) []byte {
	b = append(b, 0x80|wsText)
	switch n := len(msg); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, msg...)
}

// hubSocket is a subscriber's socket, written by the broadcast and by the
// websocket library (control frames), one whole frame at a time.
type hubSocket struct {
	conn net.Conn
	raw  syscall.RawConn // conn's descriptor, when it is a plain socket

	mu       sync.Mutex
	pending  []byte // what the socket has not taken yet, written by drain
	queued   int    // messages in pending
	draining bool
	closed   bool
}

// send writes frames (n messages) now if the socket takes them, else
// leaves them for drain; a subscriber hubQueueLimit messages behind is
// closed.
func (s *hubSocket) send(frames []byte, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.draining {
		if s.queued+n > hubQueueLimit {
			s.closeLocked()
			return
		}
		s.pending = append(s.pending, frames...)
		s.queued += n
		return
	}
	written, err := 0, errors.ErrUnsupported
	if s.raw != nil {
		written, err = socket.WriteNow(s.raw, frames)
	}
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		written = 0 // no non-blocking write here: drain writes it
	case err != nil:
		s.closeLocked()
		return
	}
	if written < len(frames) {
		s.pending = append(s.pending[:0], frames[written:]...)
		s.queued, s.draining = n, true
		go s.drain()
	}
}

// drain writes what the socket did not take at once, and what is added
// meanwhile, until nothing is left.
func (s *hubSocket) drain() {
	var spare []byte
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending, s.queued = spare[:0], 0
		if len(batch) == 0 || s.closed {
			s.draining = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if err := s.writeWaiting(batch); err != nil {
			s.close()
			return
		}
		spare = batch
	}
}

// attach is the hub's socket.Hijacker.Wrap: the library writes through
// the hubSocket.
func (s *hubSocket) attach(conn net.Conn, raw syscall.RawConn) io.Writer {
	s.conn, s.raw = conn, raw
	return s
}

// Write is the websocket library's (the acknowledgement, pongs, close).
func (s *hubSocket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		s.pending = append(s.pending, p...)
		return len(p), nil
	}
	if err := s.writeWaiting(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeWaiting writes p, waiting for the socket up to hubWriteTimeout. The
// deadline is cleared afterwards: the non-blocking writes would fail
// once it passed.
func (s *hubSocket) writeWaiting(p []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(hubWriteTimeout)); err != nil {
		return err
	}
	if _, err := s.conn.Write(p); err != nil {
		return err
	}
	return s.conn.SetWriteDeadline(time.Time{})
}

func (s *hubSocket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *hubSocket) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	_ = s.conn.Close()
}
