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
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/auth"
	"github.com/ottr/backend/internal/gqlws"
	"github.com/ottr/backend/internal/requestlog"
)

// Close codes of the graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
const (
	closeUnauthorized           = 4401 // Subscribe before the connection was acknowledged
	closeForbidden              = 4403 // connection_init refused: bad credentials
	closeInternal               = 4500 // connection_init could not be checked
	closeInitTimeout            = 4408 // no connection_init in time
	closeTooManyInitialRequests = 4429 // a second connection_init
)

const graphqlTransportWS = "graphql-transport-ws"

// websockets completes gqlgen's websocket transport (v0.17.98) where it
// departs from graphql-transport-ws: gqlgen closes with 1002 when the first
// message is not connection_init, on a second connection_init and on the
// init timeout, where the protocol asks for 4401, 4429 and 4408 (clients
// such as graphql-ws tell "retry" from "give up" by these codes). It also
// bounds every write: gqlgen writes without a deadline, so a client that
// stops reading would hold its connection and goroutines forever.
type websockets struct {
	transport.CoderWebsocketImplementation
	initTimeout  time.Duration
	writeTimeout time.Duration
}

func (w websockets) Accept(rw http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := w.CoderWebsocketImplementation.Accept(rw, r, opts)
	if err != nil {
		return nil, err
	}
	c := &protocolConn{WebsocketConn: conn, transportWS: conn.Subprotocol() == graphqlTransportWS}
	c.initTimer = time.AfterFunc(w.initTimeout, func() {
		_ = c.WriteClose(closeInitTimeout, "Connection initialisation timeout")
	})
	c.writeTimer = time.AfterFunc(time.Hour, func() { _ = c.WebsocketConn.Close() })
	c.writeTimer.Stop()
	c.writeTimeout = w.writeTimeout
	return c, nil
}

// protocolConn watches the client's messages for the protocol violations
// gqlgen does not answer as specified. gqlgen reads from one goroutine at a
// time and writes under its own lock.
type protocolConn struct {
	transport.WebsocketConn
	transportWS  bool
	initTimer    *time.Timer
	writeTimer   *time.Timer
	writeTimeout time.Duration

	messages int // read so far
	inits    int // connection_init messages read so far
}

func (c *protocolConn) NextReader() (int, io.Reader, error) {
	typ, r, err := c.WebsocketConn.NextReader()
	if err != nil {
		return typ, r, err
	}
	if c.messages++; c.messages == 1 {
		c.initTimer.Stop()
	}
	if !c.transportWS {
		return typ, r, nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return typ, nil, err
	}
	var msg struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(data, &msg) // gqlgen answers malformed messages itself
	switch {
	case msg.Type == "connection_init" && c.inits > 0:
		return c.refuse(closeTooManyInitialRequests, "Too many initialisation requests")
	case msg.Type == "connection_init":
		c.inits++
	case msg.Type == "subscribe" && c.inits == 0:
		return c.refuse(closeUnauthorized, "Unauthorized")
	}
	return typ, bytes.NewReader(data), nil
}

// refuse closes the connection with code; gqlgen's own close that follows
// the error is then a no-op.
func (c *protocolConn) refuse(code int, reason string) (int, io.Reader, error) {
	_ = c.WriteClose(code, reason)
	return 0, nil, transport.ErrWebsocketClosed
}

func (c *protocolConn) WriteJSON(v any) error {
	c.writeTimer.Reset(c.writeTimeout)
	defer c.writeTimer.Stop()
	return c.WebsocketConn.WriteJSON(v)
}

func (c *protocolConn) Close() error {
	c.initTimer.Stop()
	return c.WebsocketConn.Close()
}

// SetReadLimit and SetReadDeadline keep the optional interfaces gqlgen
// looks for on the connection (message size limit, missing pong).
func (c *protocolConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *protocolConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// websocketInit authenticates a websocket from its connection_init payload:
// {"Authorization": "Bearer …"} or {"authToken": "…"}. Bad credentials
// refuse the connection (4403, as graphql-transport-ws asks; the legacy
// graphql-ws protocol gets a connection_error first). Without credentials
// in the payload, those of the upgrade request's Authorization header, if
// any, stay: a browser cannot set that header, other clients can.
func (r *Resolver) websocketInit(logger *slog.Logger) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		next, err := r.initCredentials(ctx, logger, payload)
		var ie *gqlws.InitError
		if errors.As(err, &ie) {
			ctx = transport.WithWebsocketCloseCode(ctx, ie.Code)
			return transport.AppendCloseReason(ctx, ie.Reason), nil, ie.Err
		}
		return next, nil, err
	}
}

// initCredentials is websocketInit for the graphql-transport-ws transport.
func (r *Resolver) initCredentials(ctx context.Context, logger *slog.Logger, payload transport.InitPayload) (context.Context, error) {
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
		return ctx, &gqlws.InitError{Code: closeForbidden, Reason: "Forbidden", Err: err}
	}
	if err != nil {
		// The cause stays in the log: the client learns only that it failed.
		logger.ErrorContext(ctx, "websocket authentication failed", "err", err, "request_id", requestlog.ID(ctx))
		return ctx, &gqlws.InitError{Code: closeInternal, Reason: "Internal server error",
			Err: apperr.Unauthenticated("could not check the credentials; try again")}
	}
	return auth.WithPrincipal(ctx, p, nil), nil
}
