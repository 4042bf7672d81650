// Package gqlws serves GraphQL over websockets with the graphql-transport-ws
// protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md)
// on coder/websocket, executing operations with gqlgen's executor exactly as
// the HTTP transports do (parsing, validation, limits, extensions,
// persisted queries, error presenter).
//
// A connection costs one reader goroutine and a bounded queue of encoded
// messages, which a few writers shared by all connections write (see
// writers); keep-alive and the initialisation timeout run on timers. Operations
// run on a goroutine of their own, except subscriptions that a resolver
// adopts (see Adopt): their results arrive already encoded, shared between
// subscribers, and cost no goroutine at all.
package gqlws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/socket"
	"github.com/ottr/backend/internal/platform/surrogate"
)

// Subprotocol is the websocket subprotocol this transport speaks.
const Subprotocol = "graphql-transport-ws"

// legacySubprotocol is subscriptions-transport-ws, served elsewhere; a
// client offering it gets it, as gqlgen's transport prefers it.
const legacySubprotocol = "graphql-ws"

// Close codes of the protocol.
const (
	CloseInvalidMessage         = 4400
	CloseUnauthorized           = 4401 // subscribe before the connection was acknowledged
	CloseForbidden              = 4403 // connection_init refused
	CloseInitTimeout            = 4408
	CloseSubscriberExists       = 4409
	CloseTooManyInitialRequests = 4429
	CloseRateLimited            = 4429 // connection_init of a credential that holds all the connections it may
	CloseInternal               = 4500
	CloseGoingAway              = 1001 // the server is stopping
)

// InitError refuses a connection_init with a close code and reason.
type InitError struct {
	Code   int
	Reason string
	Err    error
}

func (e *InitError) Error() string { return e.Err.Error() }
func (e *InitError) Unwrap() error { return e.Err }

// Options configures the transport.
type Options struct {
	// Init checks a connection_init payload and returns the connection's
	// context. An *InitError says how to close; any other error closes
	// with CloseForbidden.
	Init func(ctx context.Context, payload map[string]any) (context.Context, error)
	// InitTimeout is how long a connection may wait before connection_init.
	InitTimeout time.Duration
	// KeepAlive is the ping interval; a connection that leaves a ping
	// unanswered for two intervals is dropped.
	KeepAlive time.Duration
	// WriteTimeout bounds every write: a client that stops reading is
	// dropped.
	WriteTimeout time.Duration
	// OriginPatterns are the origins a browser may connect from (see
	// websocket.AcceptOptions).
	OriginPatterns []string
	// QueueLimit is how many messages of adopted subscriptions may wait for
	// a connection's writer before Stream.Send refuses; 0 means 256.
	QueueLimit int
	// StreamError turns the error an adopted subscription ended with into
	// the error its subscriber sees.
	StreamError func(ctx context.Context, err error) error
	// ReadLimit is the largest message a client may send; 0 means 1 MiB.
	ReadLimit int64
	// Opened is told of each accepted connection, with the request's
	// context and a function that closes the connection with
	// CloseGoingAway (for a server that stops); Closed of its end, with
	// the connection's context. Both are optional.
	Opened func(ctx context.Context, goAway func())
	Closed func(ctx context.Context)
	// Expiry returns when the credentials of an acknowledged connection's
	// context run out (zero: never). Then the connection closes with
	// CloseForbidden, which graphql-ws clients retry, calling their
	// connectionParams again for fresh credentials, rather than ending
	// the subscriptions as a normal complete would.
	Expiry func(ctx context.Context) time.Time
	// Expired reports whether an error an adopted subscription ended with
	// means the connection's credentials ran out: the connection closes
	// as at Expiry, instead of a last result and complete.
	Expired func(err error) bool
}

// expiredReason is the close reason of a connection whose credentials
// ran out.
const expiredReason = "Forbidden: access token expired"

// Transport is a gqlgen transport (graphql.Transport).
type Transport struct {
	opts    Options
	writers writers
}

// New returns the transport.
func New(opts Options) *Transport {
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = 256
	}
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = 1 << 20
	}
	if opts.StreamError == nil {
		opts.StreamError = func(_ context.Context, err error) error { return err }
	}
	return &Transport{opts: opts, writers: writers{max: max(2, runtime.GOMAXPROCS(0))}}
}

var _ graphql.Transport = (*Transport)(nil)

// Supports takes websocket upgrades that negotiate graphql-transport-ws:
// the client offers it, and not the legacy protocol, which gqlgen's
// transport would choose first.
func (t *Transport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	var ours bool
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			switch strings.TrimSpace(p) {
			case legacySubprotocol:
				return false
			case Subprotocol:
				ours = true
			}
		}
	}
	return ours
}

// message is a protocol message as read.
type message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Do upgrades the request and returns: the connection runs on a reader
// goroutine of its own, and is written by the transport's shared writers.
// Handing the request's goroutine back halves what an idle connection
// costs: that goroutine's stack holds the whole HTTP middleware chain and
// would for as long as the connection lives. The request's log line and duration therefore cover the upgrade,
// not the connection; the connection keeps the request's context values
// (credentials of its Authorization header, request ID).
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ck := &cork{}
	ws, err := websocket.Accept(socket.Hijacker{ResponseWriter: w, Wrap: ck.attach}, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: t.opts.OriginPatterns,
	})
	if err != nil {
		return // Accept answered the request
	}
	ws.SetReadLimit(t.opts.ReadLimit)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	ck.timeout = t.opts.WriteTimeout
	c := &conn{
		t: t, ws: ws, cork: ck, exec: exec, ctx: ctx, cancel: cancel, headers: r.Header,
		ops: map[string]*op{},
	}
	c.room = make(chan struct{})
	// The timer's callback reads this field under c.mu, and may fire
	// before AfterFunc returns: assign it under the lock too. Keep-alive
	// pings start with the acknowledgement (see init).
	c.mu.Lock()
	c.initTimer = time.AfterFunc(t.opts.InitTimeout, func() {
		c.close(CloseInitTimeout, "Connection initialisation timeout")
	})
	c.mu.Unlock()
	if t.opts.Opened != nil {
		t.opts.Opened(ctx, c.goAway)
	}
	go c.read()
}

// conn is one connection.
type conn struct {
	t       *Transport
	ws      *websocket.Conn
	cork    *cork // under ws
	exec    graphql.GraphExecutor
	headers http.Header

	ctx    context.Context // the connection's; after connection_init, with its credentials
	cancel context.CancelFunc

	initTimer   *time.Timer
	pingTimer   *time.Timer // from the acknowledgement on; guarded by mu
	expiryTimer *time.Timer // at the credentials' expiry; guarded by mu

	mu       sync.Mutex
	inited   bool // connection_init read
	acked    bool
	closed   bool
	closing  chan struct{} // closed when the close handshake is over; nil before close
	pingSent time.Time     // unanswered ping; zero when answered
	ops      map[string]*op
	queue    []frame       // waiting to be written
	spare    []frame       // a written batch's array, emptied, for the next queue
	writing  bool          // a writer has the connection (see writers)
	room     chan struct{} // closed when a writer takes the queue, if waited on
	waiting  bool          // someone waits on room
}

// frame is one message: a, then b and a closing brace when b is set.
type frame struct {
	a, b []byte
}

// len is the message's length in bytes.
func (f frame) len() int {
	if f.b == nil {
		return len(f.a)
	}
	return len(f.a) + len(f.b) + 1
}

// read is the connection's reader loop.
func (c *conn) read() {
	defer c.shutdown()
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		var m message
		if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil {
			c.close(CloseInvalidMessage, "Invalid message received")
			return
		}
		switch m.Type {
		case "connection_init":
			// On a goroutine of its own, for the reader's stack as in
			// subscribe; the reader waits: nothing is read before the
			// acknowledgement.
			ok := make(chan bool, 1)
			go func() { ok <- c.init(m.Payload) }()
			if !<-ok {
				return
			}
		case "subscribe":
			c.mu.Lock()
			acked, exists := c.acked, c.ops[m.ID] != nil
			c.mu.Unlock()
			switch {
			case !acked:
				c.close(CloseUnauthorized, "Unauthorized")
				return
			case exists:
				c.close(CloseSubscriberExists, "Subscriber for "+m.ID+" already exists")
				return
			case m.ID == "":
				c.close(CloseInvalidMessage, "Invalid message received")
				return
			case !utf8.Valid(m.Payload):
				// Decoding would replace the bad bytes with U+FFFD, which
				// would then be taken for what the client sent.
				e := apperr.TextNotUTF8.Refusal("", "the operation")
				c.enqueue(encode("error", m.ID, []*gqlerror.Error{{
					Message:    e.Message,
					Extensions: map[string]any{"code": string(e.Code)},
				}}))
				continue
			}
			if path, found := surrogate.Find(m.Payload); found {
				// Decoding would replace it with U+FFFD, as above.
				e := surrogate.Refusal(path)
				c.enqueue(encode("error", m.ID, []*gqlerror.Error{{
					Message:    e.Message,
					Extensions: map[string]any{"code": string(e.Code), "field": e.Field},
				}}))
				continue
			}
			c.subscribe(m.ID, m.Payload)
		case "complete":
			c.mu.Lock()
			o := c.ops[m.ID]
			c.mu.Unlock()
			if o != nil {
				o.cancel()
			}
		case "ping":
			c.enqueue(frame{a: pongMessage})
		case "pong":
			c.mu.Lock()
			c.pingSent = time.Time{}
			c.mu.Unlock()
		default:
			c.close(CloseInvalidMessage, "Invalid message received")
			return
		}
	}
}

var (
	ackMessage  = []byte(`{"type":"connection_ack"}`)
	pingMessage = []byte(`{"type":"ping"}`)
	pongMessage = []byte(`{"type":"pong"}`)
)

// init handles connection_init; false closes the connection.
func (c *conn) init(payload json.RawMessage) bool {
	c.mu.Lock()
	again := c.inited
	c.inited = true
	c.mu.Unlock()
	if again {
		c.close(CloseTooManyInitialRequests, "Too many initialisation requests")
		return false
	}
	c.initTimer.Stop()
	var p map[string]any
	if len(payload) > 0 && !bytes.Equal(payload, []byte("null")) {
		if err := jsonDecode(payload, &p); err != nil {
			c.close(CloseInvalidMessage, "Invalid message received")
			return false
		}
	}
	ctx := c.ctx
	if c.t.opts.Init != nil {
		var err error
		if ctx, err = c.t.opts.Init(c.ctx, p); err != nil {
			var ie *InitError
			if errors.As(err, &ie) {
				c.close(ie.Code, ie.Reason)
			} else {
				c.close(CloseForbidden, "Forbidden")
			}
			return false
		}
	}
	c.mu.Lock()
	c.ctx, c.acked = ctx, true
	// Pings start now, not at the upgrade: until connection_init has been
	// answered the reader reads nothing, so a pong would wait unread while
	// a slow credential check runs, and the connection of a client that
	// answered at once would be dropped as dead. The init timeout bounds
	// the wait before connection_init.
	if c.t.opts.KeepAlive > 0 && !c.closed {
		c.pingTimer = time.AfterFunc(c.t.opts.KeepAlive, c.ping)
	}
	if c.t.opts.Expiry != nil && !c.closed {
		if exp := c.t.opts.Expiry(ctx); !exp.IsZero() {
			c.expiryTimer = time.AfterFunc(time.Until(exp), c.expire)
		}
	}
	c.queueLocked(frame{a: ackMessage})
	c.mu.Unlock()
	return true
}

// expire closes a connection whose credentials ran out.
func (c *conn) expire() { c.close(CloseForbidden, expiredReason) }

// ping sends a ping every keep-alive interval and drops a connection whose
// last ping stayed unanswered for two.
func (c *conn) ping() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	if !c.pingSent.IsZero() {
		if now.Sub(c.pingSent) >= 2*c.t.opts.KeepAlive {
			c.mu.Unlock()
			_ = c.ws.CloseNow()
			return
		}
	} else {
		c.pingSent = now
		c.queueLocked(frame{a: pingMessage})
	}
	c.pingTimer.Reset(c.t.opts.KeepAlive)
	c.mu.Unlock()
}

// close sends a close frame (from its own goroutine: the writer may hold
// the connection) and ends the connection.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.closing = make(chan struct{})
	c.mu.Unlock()
	go func() {
		// Close waits for the client's close frame for up to 5s, then
		// closes the connection; the reader returns then.
		defer close(c.closing)
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	}()
}

// goAwayFlush bounds how long goAway waits for queued messages to be
// written.
const goAwayFlush = 2 * time.Second

// goAway closes with CloseGoingAway once what is queued has been written
// (the last results of the subscriptions a stopping server ended), or
// after goAwayFlush for a client that does not read.
func (c *conn) goAway() {
	deadline := time.Now().Add(goAwayFlush)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		idle := c.closed || (len(c.queue) == 0 && !c.writing)
		c.mu.Unlock()
		if idle {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.close(CloseGoingAway, "Server shutting down")
}

// shutdown ends everything once the reader returned.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.closed = true
	ops := make([]*op, 0, len(c.ops))
	for _, o := range c.ops {
		ops = append(ops, o)
	}
	c.queue = nil
	closing := c.closing
	pingTimer, expiryTimer := c.pingTimer, c.expiryTimer
	c.mu.Unlock()
	c.initTimer.Stop()
	if pingTimer != nil {
		pingTimer.Stop()
	}
	if expiryTimer != nil {
		expiryTimer.Stop()
	}
	c.cancel()
	for _, o := range ops {
		o.cancel()
	}
	if closing != nil {
		<-closing // the close handshake
	}
	_ = c.ws.CloseNow()
	if c.t.opts.Closed != nil {
		c.t.opts.Closed(c.ctx)
	}
}

// enqueue queues f for the writer, whatever the queue's length: control
// messages, which the reader sends.
func (c *conn) enqueue(f frame) {
	c.mu.Lock()
	c.queueLocked(f)
	c.mu.Unlock()
}

func (c *conn) queueLocked(f frame) {
	if c.closed {
		return
	}
	if c.queue == nil {
		// A reused array: a connection that falls behind would otherwise
		// grow a new queue, copying it at every doubling, for each batch.
		c.queue, c.spare = c.spare, nil
	}
	c.queue = append(c.queue, f)
	if !c.writing {
		c.writing = true
		c.t.writers.schedule(c)
	}
}

// offer queues f unless the queue holds QueueLimit messages already.
func (c *conn) offer(f frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return true // the operation ends with the connection
	}
	if len(c.queue) >= c.t.opts.QueueLimit {
		return false
	}
	c.queueLocked(f)
	return true
}

// send queues f once the queue has room, or returns false when ctx ends
// first.
func (c *conn) send(ctx context.Context, f frame) bool {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return false
		}
		if len(c.queue) < c.t.opts.QueueLimit {
			c.queueLocked(f)
			c.mu.Unlock()
			return true
		}
		room := c.room
		c.waiting = true
		c.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return false
		}
	}
}

// take hands the queue to its writer; written is the writer's last
// batch, if any, whose array the queue may reuse.
func (c *conn) take(written []frame) (batch []frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recycleLocked(written)
	batch, c.queue = c.queue, nil
	if c.waiting {
		close(c.room)
		c.room, c.waiting = make(chan struct{}), false
	}
	if batch == nil || c.closed {
		c.writing = false
		return nil
	}
	return batch
}

// recycleLocked keeps a written batch's array for the next queue.
func (c *conn) recycleLocked(written []frame) {
	if written == nil || cap(written) > 2*c.t.opts.QueueLimit {
		return
	}
	clear(written) // the payloads are shared: let them go
	c.spare = written[:0]
}

// flush is a shared writer's turn at the connection: it writes what is
// queued, if the socket takes it at once, framed in scratch, the writer's
// buffer (returned for the next connection). A connection whose socket is
// full (or that the websocket library is writing to itself, a control
// frame) gets a goroutine of its own (drain) until it has caught up, so
// that it holds up no other.
func (c *conn) flush(scratch []byte) []byte {
	batch := c.take(nil)
	if batch == nil {
		return scratch
	}
	scratch, ok, done, err := c.cork.tryWrite(batch, scratch)
	switch {
	case !ok:
		go c.drain(batch)
		return scratch
	case err != nil:
		c.fail()
		return scratch
	case !done:
		go c.drain(nil)
		return scratch
	}
	c.mu.Lock()
	c.recycleLocked(batch)
	if len(c.queue) > 0 {
		c.t.writers.schedule(c) // still writing: back in line
	} else {
		c.writing = false
	}
	c.mu.Unlock()
	return scratch
}

// drain writes for a connection that fell behind: batch if any, what is
// held back, then what comes, within WriteTimeout per write, until its
// queue is empty; a client that takes no more is dropped.
func (c *conn) drain(batch []frame) {
	for {
		if batch != nil {
			c.cork.hold()
			c.cork.appendText(batch)
		}
		if err := c.cork.release(); err != nil {
			c.fail()
			return
		}
		if batch = c.take(batch); batch == nil {
			return
		}
	}
}

// fail drops a connection that could not be written to.
func (c *conn) fail() {
	c.mu.Lock()
	c.writing, c.closed = false, true
	c.queue = nil
	c.mu.Unlock()
	_ = c.cork.conn.Close()
	_ = c.ws.CloseNow()
}

// nextHead is the start of a next message for operation id, up to its
// payload.
func nextHead(id string) []byte {
	return fmt.Appendf(nil, `{"id":%s,"type":"next","payload":`, strconv.Quote(id))
}

// encode builds a protocol message.
func encode(typ, id string, payload any) frame {
	m := struct {
		ID      string `json:"id,omitempty"`
		Type    string `json:"type"`
		Payload any    `json:"payload,omitempty"`
	}{id, typ, payload}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return frame{a: b}
}

// op is a running operation.
type op struct {
	c       *conn
	id      string
	head    []byte // nextHead(id)
	ctx     context.Context
	cancel  context.CancelFunc
	adopted bool // guarded by c.mu
	ended   bool // guarded by c.mu
}

// subscribe starts an operation, as gqlgen's websocket transport does.
func (c *conn) subscribe(id string, payload json.RawMessage) {
	start := graphql.Now()
	c.mu.Lock()
	connCtx := c.ctx
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(graphql.StartOperationTrace(connCtx))
	o := &op{c: c, id: id, head: nextHead(id), ctx: ctx, cancel: cancel}
	c.mu.Lock()
	c.ops[id] = o
	c.mu.Unlock()
	// Parsing and validating on the operation's goroutine leaves the
	// reader's stack small: it lives as long as the connection.
	go o.run(ctx, payload, start)
}

// run executes the operation and sends its results, unless a resolver
// adopted it.
func (o *op) run(ctx context.Context, payload json.RawMessage, start time.Time) {
	c := o.c
	params := &graphql.RawParams{}
	if err := jsonDecode(payload, params); err != nil {
		c.enqueue(encode("error", o.id, []*gqlerror.Error{{Message: "invalid json"}}))
		o.finish(true)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	params.Headers = c.headers
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			c.enqueue(encode("error", o.id, resp.Errors))
		} else {
			c.enqueue(encode("next", o.id, &graphql.Response{Errors: errs}))
		}
		o.finish(true)
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	o.ctx = ctx // before anything may use the stream
	if rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
		ctx = context.WithValue(ctx, opKey{}, o)
	}
	defer func() {
		if r := recover(); r != nil {
			err := rc.Recover(ctx, r)
			var gqlErr *gqlerror.Error
			if !errors.As(err, &gqlErr) {
				gqlErr = &gqlerror.Error{}
				if err != nil {
					gqlErr.Message = err.Error()
				}
			}
			c.enqueue(encode("error", o.id, []*gqlerror.Error{gqlErr}))
			o.finish(false) // error ends the operation
		}
	}()
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	c.mu.Lock()
	adopted := o.adopted
	c.mu.Unlock()
	if adopted {
		return // the stream sends, and ends the operation
	}
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		b, err := json.Marshal(resp)
		if err != nil {
			panic(err)
		}
		if !c.send(ctx, frame{a: o.head, b: b}) {
			break
		}
	}
	o.finish(true)
}

// finish ends the operation, with a complete message when complete (and
// the connection is still there), and forgets it.
func (o *op) finish(complete bool) {
	c := o.c
	c.mu.Lock()
	if o.ended {
		c.mu.Unlock()
		return
	}
	o.ended = true
	if c.ops[o.id] == o {
		delete(c.ops, o.id)
	}
	if complete {
		c.queueLocked(encode("complete", o.id, nil))
	}
	c.mu.Unlock()
	o.cancel()
}

type opKey struct{}

// Stream is a subscription whose results a resolver delivers itself,
// already encoded.
type Stream struct {
	o *op
}

// StreamFor returns the subscription being resolved in ctx, when it came
// over this transport; else nil.
func StreamFor(ctx context.Context) *Stream {
	if o, ok := ctx.Value(opKey{}).(*op); ok {
		return &Stream{o: o}
	}
	return nil
}

// Executor is the executor the operation runs on.
func (s *Stream) Executor() graphql.GraphExecutor { return s.o.c.exec }

// Context is the operation's context: it ends when the client completes
// the operation or the connection ends.
func (s *Stream) Context() context.Context { return s.o.ctx }

// Adopt takes the operation's results over: the transport no longer reads
// the resolver's channel. Call it once the subscription is accepted,
// before its resolver returns; from then on the subscription sends with
// Send and SendWait and must call End.
func (s *Stream) Adopt() {
	s.o.c.mu.Lock()
	s.o.adopted = true
	s.o.c.mu.Unlock()
}

// Send queues a result (a graphql.Response, encoded) without waiting;
// false means the connection's queue is full: the subscriber is too slow.
func (s *Stream) Send(payload []byte) bool {
	return s.o.c.offer(frame{a: s.o.head, b: payload})
}

// SendWait queues a result once the queue has room; false means ctx or
// the operation ended first.
func (s *Stream) SendWait(ctx context.Context, payload []byte) bool {
	return s.o.c.send(ctx, frame{a: s.o.head, b: payload})
}

// End ends the subscription: with err, a last result carrying it (as
// Options.StreamError presents it), then complete. It never waits.
func (s *Stream) End(err error) {
	o := s.o
	c := o.c
	if err != nil && c.t.opts.Expired != nil && c.t.opts.Expired(err) {
		s.CloseExpired()
		return
	}
	if err != nil && o.ctx.Err() == nil {
		resp := c.exec.DispatchError(o.ctx, gqlerror.List{gqlerror.WrapIfUnwrapped(c.t.opts.StreamError(o.ctx, err))})
		b, merr := json.Marshal(resp)
		if merr != nil {
			panic(merr)
		}
		c.enqueue(frame{a: o.head, b: b})
	}
	o.finish(true)
}

// CloseExpired closes the stream's connection as Options.Expiry does, and
// ends the subscription without a result or complete: the client
// reconnects with fresh credentials and subscribes again.
func (s *Stream) CloseExpired() {
	s.o.c.close(CloseForbidden, expiredReason)
	s.o.finish(false)
}

// jsonDecode decodes as gqlgen's transports do: numbers stay json.Number.
func jsonDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
