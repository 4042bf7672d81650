package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/metrics"
	"github.com/ottr/backend/internal/platform/requestlog"
	"github.com/ottr/backend/internal/platform/surrogate"
	"github.com/ottr/backend/internal/realtime/gqlws"
)

// websockets completes gqlgen's websocket transport (v0.17.98), which
// serves the legacy graphql-ws protocol (graphql-transport-ws has its own
// transport, internal/realtime/gqlws): gqlgen closes with 1002 on the init timeout,
// where clients expect 4408, and writes without a deadline, so a client
// that stops reading would hold its connection and goroutines forever.
type websockets struct {
	transport.CoderWebsocketImplementation
	initTimeout  time.Duration
	writeTimeout time.Duration
	live         *LiveConnections
}

func (w websockets) Accept(rw http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := w.CoderWebsocketImplementation.Accept(rw, r, opts)
	if err != nil {
		return nil, err
	}
	c := &protocolConn{WebsocketConn: conn}
	c.initTimer = time.AfterFunc(w.initTimeout, func() {
		_ = c.WriteClose(gqlws.CloseInitTimeout, "Connection initialisation timeout")
	})
	c.writeTimer = time.AfterFunc(time.Hour, func() { _ = c.WebsocketConn.Close() })
	c.writeTimer.Stop()
	c.writeTimeout = w.writeTimeout
	if lc := liveConnFrom(r.Context()); lc != nil && w.live != nil {
		lc.goAway = func() {
			lc.whenIdle(func() { _ = c.WriteClose(gqlws.CloseGoingAway, "Server shutting down") })
		}
		lc.end = func() { _ = c.Close() }
		w.live.opened(lc, metrics.TransportGraphQLWS)
		c.closed = func() { w.live.closed(lc) }
	}
	return c, nil
}

// protocolConn stops the init timer at the first message and bounds
// writes. gqlgen reads from one goroutine at a time and writes under its
// own lock, which the refusals written from the reader (checkInit,
// refusedLoneSurrogate) cannot take: writeMu serializes every write, so
// that one write's end never disarms the deadline of another, and a
// refusal's error and complete go out together.
type protocolConn struct {
	transport.WebsocketConn
	initTimer    *time.Timer
	writeMu      sync.Mutex
	writeTimer   *time.Timer // armed while a write runs; guarded by writeMu
	writeTimeout time.Duration
	closed       func() // tells LiveConnections; nil when untracked
	closeOnce    sync.Once
	first        bool // a message has been read
}

func (c *protocolConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.WebsocketConn.NextReader()
		if err != nil {
			return typ, r, err
		}
		c.initTimer.Stop() // a message came: from the first on, a no-op
		// A text message must be UTF-8 (RFC 6455); decoding would replace bad
		// bytes with U+FFFD, taken then for what the client sent.
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, err
		}
		if !utf8.Valid(data) {
			_ = c.WriteClose(closeInvalidPayload, "Message is not valid UTF-8")
			return typ, nil, errInvalidUTF8
		}
		if !c.first {
			c.first = true
			if err := c.checkInit(data); err != nil {
				return typ, nil, err
			}
		}
		if c.refusedLoneSurrogate(data) {
			continue
		}
		return typ, bytes.NewReader(data), nil
	}
}

// refusedLoneSurrogate answers a start message whose operation escapes a
// lone UTF-16 surrogate, which decoding would replace with U+FFFD, with
// an error for that operation, as gqlgen answers one it cannot decode;
// gqlgen never sees the message. Other messages pass: they carry no
// operation.
func (c *protocolConn) refusedLoneSurrogate(data []byte) bool {
	path, found := surrogate.Find(data)
	if !found {
		return false
	}
	var m struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	rest, isPayload := strings.CutPrefix(path, "payload.")
	if json.Unmarshal(data, &m) != nil || m.Type != "start" || m.ID == "" || !isPayload {
		return false
	}
	e := surrogate.Refusal(rest)
	refusal := &gqlerror.Error{Message: e.Message, Extensions: map[string]any{"code": string(e.Code), "field": e.Field}}
	_ = c.writeJSON(map[string]any{"type": "error", "id": m.ID, "payload": []*gqlerror.Error{refusal}},
		map[string]any{"type": "complete", "id": m.ID})
	return true
}

// checkInit refuses a connection_init whose payload is not an object (nor
// null) with a connection_error and 4400, as graphql-transport-ws does:
// gqlgen would drop such a connection without a word, and leave its socket
// open.
func (c *protocolConn) checkInit(data []byte) error {
	var m struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type != "connection_init" {
		return nil // gqlgen answers these
	}
	p := bytes.TrimSpace(m.Payload)
	if len(p) == 0 || p[0] == '{' || bytes.Equal(p, []byte("null")) {
		return nil
	}
	_ = c.WriteJSON(map[string]any{"type": "connection_error", "payload": map[string]any{
		"message": "the connection_init payload must be an object", "extensions": map[string]any{"code": string(apperr.CodeBadUserInput)},
	}})
	_ = c.WriteClose(gqlws.CloseInvalidMessage, "Invalid message received")
	return errInitPayload
}

var errInitPayload = errors.New("connection_init payload is not an object")

// closeInvalidPayload is RFC 6455's close code for a text message that is
// not UTF-8.
const closeInvalidPayload = 1007

var errInvalidUTF8 = errors.New("websocket message is not valid UTF-8")

func (c *protocolConn) WriteJSON(v any) error { return c.writeJSON(v) }

// writeJSON writes messages one after the other, none in between, each
// within the write timeout.
func (c *protocolConn) writeJSON(messages ...any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	for _, m := range messages {
		c.writeTimer.Reset(c.writeTimeout)
		err := c.WebsocketConn.WriteJSON(m)
		c.writeTimer.Stop()
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *protocolConn) Close() error {
	c.initTimer.Stop()
	err := c.WebsocketConn.Close()
	if c.closed != nil {
		c.closeOnce.Do(c.closed)
	}
	return err
}

// SetReadLimit keeps the optional interface gqlgen looks for on the
// connection (message size limit). Read deadlines it sets only for
// graphql-transport-ws, which internal/realtime/gqlws serves.
func (c *protocolConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

// websocketInit authenticates a websocket from its connection_init payload:
// {"Authorization": "Bearer …"} or {"authToken": "…"}. Bad credentials
// refuse the connection (4403, as graphql-transport-ws asks; the legacy
// graphql-ws protocol gets a connection_error first). Without credentials
// in the payload, those of the upgrade request's Authorization header, if
// any, stay: a browser cannot set that header, other clients can.
func (r *Resolver) websocketInit(logger *slog.Logger, live *LiveConnections) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		next, err := r.initConnection(ctx, logger, live, payload)
		var ie *gqlws.InitError
		if errors.As(err, &ie) {
			ctx = transport.WithWebsocketCloseCode(ctx, ie.Code)
			return transport.AppendCloseReason(ctx, ie.Reason), nil, ie.Err
		}
		return next, nil, err
	}
}

// initConnection is websocketInit for the graphql-transport-ws transport:
// the credentials, then the connection limit of their principal (4429,
// RATE_LIMITED, when it holds as many connections as it may).
func (r *Resolver) initConnection(ctx context.Context, logger *slog.Logger, live *LiveConnections, payload transport.InitPayload) (context.Context, error) {
	ctx, err := r.initCredentials(ctx, logger, payload)
	if err != nil {
		return ctx, err
	}
	if err := live.authenticated(ctx); err != nil {
		return ctx, &gqlws.InitError{Code: gqlws.CloseRateLimited, Reason: closeReason(err.Error()), Err: err}
	}
	return ctx, nil
}

// credentialFields are the connection_init payload's fields that may carry
// credentials.
var credentialFields = []string{"Authorization", "authorization", "authToken"}

// initCredentials reads the credentials of a connection_init payload. A
// credential field that is neither a string nor null is a malformed
// message (4400): taking it for no credentials would acknowledge the
// client as anonymous, which it did not ask to be.
func (r *Resolver) initCredentials(ctx context.Context, logger *slog.Logger, payload transport.InitPayload) (context.Context, error) {
	for _, field := range credentialFields {
		switch payload[field].(type) {
		case string, nil:
		default:
			return ctx, &gqlws.InitError{Code: gqlws.CloseInvalidMessage, Reason: "Invalid message received",
				Err: apperr.Invalid(field, "connection_init: %s must be a string", field)}
		}
	}
	cred := payload.Authorization()
	if cred == "" {
		cred = payload.GetString("authToken")
	}
	cred = strings.TrimSpace(cred)
	if scheme, rest, ok := strings.Cut(cred, " "); ok && strings.EqualFold(scheme, "Bearer") {
		cred = strings.TrimSpace(rest)
	}
	if cred == "" {
		return ctx, nil
	}
	p, err := r.AuthService.Authenticate(ctx, cred)
	if _, ok := apperr.As(err); ok {
		return ctx, &gqlws.InitError{Code: gqlws.CloseForbidden, Reason: "Forbidden", Err: err}
	}
	if err != nil {
		// The cause stays in the log: the client learns only that it failed.
		logger.ErrorContext(ctx, "websocket authentication failed", "err", err, "request_id", requestlog.ID(ctx))
		return ctx, &gqlws.InitError{Code: gqlws.CloseInternal, Reason: "Internal server error",
			Err: apperr.Unauthenticated("could not check the credentials; try again")}
	}
	return auth.WithPrincipal(ctx, p, nil), nil
}

// closeReason fits msg into a close frame, whose reason RFC 6455 caps at
// 123 bytes.
func closeReason(msg string) string {
	const maxReason = 123
	if len(msg) <= maxReason {
		return msg
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}
