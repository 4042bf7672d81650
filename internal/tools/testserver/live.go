package testserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/domain/event"
)

// Websocket subprotocols of GraphQL subscriptions.
const (
	TransportWS = "graphql-transport-ws" // what the graphql-ws library speaks
	LegacyWS    = "graphql-ws"           // subscriptions-transport-ws
)

// ReadTimeout bounds every wait for a message in these clients.
const ReadTimeout = 10 * time.Second

// Record writes an event of project through the server's recorder, as a
// domain change would, and returns it with its ID.
func (s *Server) Record(projectID string, typ event.Type) event.Event {
	s.t.Helper()
	return s.RecordEvent(event.Event{Type: typ, ProjectID: projectID, KeyPath: "deploy/" + strings.ToLower(string(typ))})
}

// RecordEvent writes ev through the server's recorder and returns it with
// its ID.
func (s *Server) RecordEvent(ev event.Event) event.Event {
	s.t.Helper()
	if err := s.App.Recorder.Record(context.Background(), &ev); err != nil {
		s.t.Fatalf("record %s: %v", ev.Type, err)
	}
	return ev
}

// Message is one protocol message.
type Message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WS is a GraphQL websocket client. It reads only when asked to (so a test
// can play a subscriber that stops reading) and answers pings as it reads.
type WS struct {
	srv      *Server
	Conn     *websocket.Conn
	Protocol string
	seq      int
	pending  map[string][]Message // read while waiting for another subscription
	// Pings counts the pings (graphql-transport-ws) and keep-alives
	// (graphql-ws "ka") read so far.
	Pings int
	// reading, once Background started, bounds the background reader's
	// reads instead of ReadTimeout: it reads until the test ends.
	reading context.Context
}

// DialOption changes how a websocket is dialed.
type DialOption func(*websocket.DialOptions)

// ReceiveBuffer caps the client socket's receive buffer at n bytes (instead
// of letting the kernel grow it to megabytes), so that a client that stops
// reading backs up to the server quickly.
func ReceiveBuffer(n int) DialOption {
	return func(o *websocket.DialOptions) {
		d := &net.Dialer{}
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err == nil {
					err = c.(*net.TCPConn).SetReadBuffer(n)
				}
				return c, err
			},
		}}
	}
}

// DialWS opens a websocket to /query with subprotocol protocol and the
// given request headers, without any GraphQL message.
func (s *Server) DialWS(protocol string, header http.Header, opts ...DialOption) (*WS, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
	defer cancel()
	dopts := &websocket.DialOptions{Subprotocols: []string{protocol}, HTTPHeader: header}
	for _, o := range opts {
		o(dopts)
	}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/query", dopts)
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(1 << 20)
	s.t.Cleanup(func() { _ = conn.CloseNow() })
	return &WS{srv: s, Conn: conn, Protocol: protocol, pending: map[string][]Message{}}, resp, nil
}

// Connect opens a websocket and sends connection_init with token (as
// {"Authorization": "Bearer <token>"}; none when empty), and waits for
// the acknowledgement.
func (s *Server) Connect(protocol, token string, opts ...DialOption) *WS {
	s.t.Helper()
	ws, _, err := s.DialWS(protocol, nil, opts...)
	if err != nil {
		s.t.Fatalf("dial websocket: %v", err)
	}
	var payload map[string]any
	if token != "" {
		payload = map[string]any{"Authorization": "Bearer " + token}
	}
	ws.Init(payload)
	if m := ws.Read(); m.Type != "connection_ack" {
		s.t.Fatalf("got %s message, want connection_ack: %s", m.Type, m.Payload)
	}
	return ws
}

// Init sends connection_init with payload (nil for none).
func (w *WS) Init(payload map[string]any) {
	w.srv.t.Helper()
	msg := Message{Type: "connection_init"}
	if payload != nil {
		msg.Payload, _ = json.Marshal(payload)
	}
	w.Send(msg)
}

// Send writes one message.
func (w *WS) Send(m Message) {
	w.srv.t.Helper()
	if err := w.trySend(m); err != nil {
		w.srv.t.Fatal(err)
	}
}

// trySend is Send that returns the error, for the reads that answer pings
// (which may run on a goroutine of their own, where t.Fatal may not be
// called).
func (w *WS) trySend(m Message) error {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
	defer cancel()
	if err := w.Conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("write %s message: %w", m.Type, err)
	}
	return nil
}

// Read returns the next message that is not a keep-alive, failing the test
// if none arrives in time or the connection closes.
func (w *WS) Read() Message {
	w.srv.t.Helper()
	m, err := w.TryRead()
	if err != nil {
		w.srv.t.Fatalf("read websocket: %v", err)
	}
	return m
}

// TryRead is Read that returns the error (a websocket.CloseError when the
// server closed the connection).
func (w *WS) TryRead() (Message, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
		if w.reading != nil {
			ctx, cancel = context.WithCancel(w.reading)
		}
		_, b, err := w.Conn.Read(ctx)
		cancel()
		if err != nil {
			return Message{}, err
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			return Message{}, fmt.Errorf("decode message %s: %w", b, err)
		}
		switch m.Type {
		case "ka":
			w.Pings++
			continue
		case "ping":
			w.Pings++
			if err := w.trySend(Message{Type: "pong"}); err != nil {
				return Message{}, err
			}
			continue
		}
		return m, nil
	}
}

// CloseStatus reads until the server closes the connection and returns the
// close code, failing the test if anything else than a close arrives.
func (w *WS) CloseStatus() (websocket.StatusCode, string) {
	w.srv.t.Helper()
	for {
		m, err := w.TryRead()
		if err == nil {
			if m.Type == "connection_error" { // legacy graphql-ws says why before closing
				continue
			}
			w.srv.t.Fatalf("got %s message %s, want the connection closed", m.Type, m.Payload)
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			w.srv.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// Sub is one subscription on a websocket.
type Sub struct {
	ws *WS
	ID string
}

// Subscribe starts an operation.
func (w *WS) Subscribe(query string, vars map[string]any) *Sub {
	w.srv.t.Helper()
	w.seq++
	id := strconv.Itoa(w.seq)
	typ := "subscribe"
	if w.Protocol == LegacyWS {
		typ = "start"
	}
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	w.Send(Message{Type: typ, ID: id, Payload: payload})
	return &Sub{ws: w, ID: id}
}

// Result is one message of a subscription: a result (Data, Errors), or its
// end (Complete), or an operation error (Errors, for the protocol's
// "error" message).
type Result struct {
	Data     json.RawMessage
	Errors   []GQLError
	Complete bool
}

// Next returns the subscription's next message.
func (s *Sub) Next() Result {
	s.ws.srv.t.Helper()
	r, err := s.TryNext()
	if err != nil {
		s.ws.srv.t.Fatalf("subscription %s: %v", s.ID, err)
	}
	return r
}

// TryNext is Next that returns a read error.
func (s *Sub) TryNext() (Result, error) {
	w := s.ws
	var m Message
	if q := w.pending[s.ID]; len(q) > 0 {
		m, w.pending[s.ID] = q[0], q[1:]
	} else {
		for {
			var err error
			if m, err = w.TryRead(); err != nil {
				return Result{}, err
			}
			if m.ID == s.ID {
				break
			}
			w.pending[m.ID] = append(w.pending[m.ID], m)
		}
	}
	switch m.Type {
	case "complete":
		return Result{Complete: true}, nil
	case "next", "data":
		var r struct {
			Data   json.RawMessage `json:"data"`
			Errors []GQLError      `json:"errors"`
		}
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return Result{}, fmt.Errorf("decode result %s: %w", m.Payload, err)
		}
		return Result{Data: r.Data, Errors: r.Errors}, nil
	case "error":
		var errs []GQLError
		if err := json.Unmarshal(m.Payload, &errs); err != nil {
			var one GQLError // legacy graphql-ws sends one error
			if err := json.Unmarshal(m.Payload, &one); err != nil {
				return Result{}, fmt.Errorf("decode error %s: %w", m.Payload, err)
			}
			errs = []GQLError{one}
		}
		return Result{Errors: errs}, nil
	}
	return Result{}, fmt.Errorf("unexpected %s message: %s", m.Type, m.Payload)
}

// Background reads the subscription's connection from now on, on a
// goroutine of its own and for as long as the test runs, answering pings
// as soon as they come, as real clients do (Next answers them only when
// the test reads, which a server that drops a connection whose ping goes
// unanswered for two keep-alive intervals may take for a dead client).
// The returned function returns the next message that was read. Nothing
// else may use the connection afterwards.
func (s *Sub) Background() (next func() Result) {
	t := s.ws.srv.t
	type read struct {
		r   Result
		err error
	}
	reads := make(chan read, 64)
	ctx, cancel := context.WithCancel(context.Background())
	s.ws.reading = ctx
	stopped := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	go func() {
		defer close(stopped)
		for {
			r, err := s.TryNext()
			select {
			case reads <- read{r, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return func() Result {
		t.Helper()
		select {
		case got := <-reads:
			if got.err != nil {
				t.Fatalf("subscription %s: %v", s.ID, got.err)
			}
			return got.r
		case <-time.After(ReadTimeout):
			t.Fatalf("subscription %s: no message in %v", s.ID, ReadTimeout)
		}
		return Result{}
	}
}

// Stop ends the subscription from the client's side.
func (s *Sub) Stop() {
	typ := "complete"
	if s.ws.Protocol == LegacyWS {
		typ = "stop"
	}
	s.ws.Send(Message{Type: typ, ID: s.ID})
}

// SSE is a subscription over server-sent events.
type SSE struct {
	srv    *Server
	Status int
	events chan sseEvent
	cancel context.CancelFunc
	pings  atomic.Int64
}

// Pings counts the keep-alive comments received so far.
func (e *SSE) Pings() int64 { return e.pings.Load() }

type sseEvent struct {
	name, data string
	err        error
}

// SubscribeSSE starts an operation over server-sent events with the bearer
// credential token.
func (s *Server) SubscribeSSE(token, query string, vars map[string]any) *SSE {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		s.t.Fatalf("POST /query (SSE): %v", err)
	}
	sse := &SSE{srv: s, Status: resp.StatusCode, events: make(chan sseEvent, 64), cancel: cancel}
	done := make(chan struct{})
	s.t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		defer close(sse.events)
		emit := func(ev sseEvent) {
			select {
			case sse.events <- ev:
			case <-ctx.Done():
			}
		}
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
				if name == "complete" {
					emit(sseEvent{name: name})
				}
			case strings.HasPrefix(line, ": ping"):
				sse.pings.Add(1)
			case strings.HasPrefix(line, "data: "):
				emit(sseEvent{name: name, data: strings.TrimPrefix(line, "data: ")})
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			emit(sseEvent{err: err})
		}
	}()
	return sse
}

// Next returns the next result, or Complete at the end of the stream.
func (e *SSE) Next() Result {
	e.srv.t.Helper()
	select {
	case ev, ok := <-e.events:
		switch {
		case !ok:
			e.srv.t.Fatal("SSE stream ended without complete")
		case ev.err != nil:
			e.srv.t.Fatalf("read SSE stream: %v", ev.err)
		case ev.name == "complete":
			return Result{Complete: true}
		}
		var r struct {
			Data   json.RawMessage `json:"data"`
			Errors []GQLError      `json:"errors"`
		}
		if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
			e.srv.t.Fatalf("decode SSE data %s: %v", ev.data, err)
		}
		return Result{Data: r.Data, Errors: r.Errors}
	case <-time.After(ReadTimeout):
		e.srv.t.Fatal("no SSE event before timeout")
	}
	return Result{}
}

// Close ends the stream from the client's side.
func (e *SSE) Close() { e.cancel() }
