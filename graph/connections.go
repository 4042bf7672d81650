package graph

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/metrics"
)

// MaxSubscriptionsPerConnection is how many subscriptions one websocket
// connection may run at once; a subscribe past it gets a
// TOO_MANY_SUBSCRIPTIONS error and the connection stays open.
const MaxSubscriptionsPerConnection = 100

// goAwayGrace is how long a websocket connection of a stopping server
// waits for its subscriptions to send their last result before it closes.
const goAwayGrace = 5 * time.Second

// LiveConnections keeps count of the endpoint's websocket and SSE
// connections and their subscriptions (for metrics and the subscription
// limit), and lets shutdown wait until they have all closed. A server
// builds one and passes it in HandlerOptions.
type LiveConnections struct {
	metrics *metrics.Metrics

	mu       sync.Mutex
	conns    map[*liveConn]struct{}
	stopping bool
}

// NewLiveConnections returns an empty set; m may be nil.
func NewLiveConnections(m *metrics.Metrics) *LiveConnections {
	return &LiveConnections{metrics: m, conns: map[*liveConn]struct{}{}}
}

// liveConn is one websocket or SSE connection, from its request's context.
type liveConn struct {
	transport string
	subs      atomic.Int64
	// goAway closes a websocket with 1001 as the server stops, once its
	// subscriptions have ended; nil for SSE, whose stream ends with its
	// subscription.
	goAway func()
}

type liveConnKey struct{}

func liveConnFrom(ctx context.Context) *liveConn {
	lc, _ := ctx.Value(liveConnKey{}).(*liveConn)
	return lc
}

// track gives websocket upgrades and SSE requests a liveConn in their
// context; SSE connections are counted for as long as their request runs.
func (l *LiveConnections) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		if r.Header.Get("Upgrade") == "" && !sse {
			next.ServeHTTP(w, r)
			return
		}
		lc := &liveConn{}
		r = r.WithContext(context.WithValue(r.Context(), liveConnKey{}, lc))
		if sse {
			l.opened(lc, metrics.TransportSSE)
			defer l.closed(lc)
		}
		next.ServeHTTP(w, r)
	})
}

// opened counts a connection of transport.
func (l *LiveConnections) opened(lc *liveConn, transport string) {
	lc.transport = transport
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	stopping := l.stopping
	l.mu.Unlock()
	if l.metrics != nil {
		l.metrics.LiveConnections.WithLabelValues(transport).Inc()
	}
	if stopping && lc.goAway != nil {
		go lc.goAway()
	}
}

func (l *LiveConnections) closed(lc *liveConn) {
	l.mu.Lock()
	_, ok := l.conns[lc]
	delete(l.conns, lc)
	l.mu.Unlock()
	if ok && l.metrics != nil {
		l.metrics.LiveConnections.WithLabelValues(lc.transport).Dec()
	}
}

// stop tells the graphql-ws connections to go away once their
// subscriptions have ended (the subscriptions end themselves with
// SHUTTING_DOWN as the server stops).
func (l *LiveConnections) stop() {
	l.mu.Lock()
	l.stopping = true
	var away []func()
	for lc := range l.conns {
		if lc.goAway != nil {
			away = append(away, lc.goAway)
		}
	}
	l.mu.Unlock()
	for _, f := range away {
		go f()
	}
}

// Wait returns once every websocket and SSE connection has closed, or
// when ctx ends.
func (l *LiveConnections) Wait(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		n := len(l.conns)
		l.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// whenIdle calls f once lc runs no subscription, or after goAwayGrace.
func (lc *liveConn) whenIdle(f func()) {
	deadline := time.Now().Add(goAwayGrace)
	for lc.subs.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f()
}

// countSubscriptions counts the subscriptions of each connection, and
// refuses one past MaxSubscriptionsPerConnection.
func (l *LiveConnections) countSubscriptions(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	lc := liveConnFrom(ctx)
	if lc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	if lc.subs.Add(1) > MaxSubscriptionsPerConnection {
		lc.subs.Add(-1)
		if l.metrics != nil {
			l.metrics.GraphQLErrors.WithLabelValues(string(apperr.CodeTooManySubscriptions)).Inc()
		}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message: "this connection already runs " + strconv.Itoa(MaxSubscriptionsPerConnection) +
				" subscriptions, the most one connection may; complete one or open another connection",
			Extensions: map[string]any{"code": string(apperr.CodeTooManySubscriptions)},
		}}})
	}
	gauge := func(float64) {}
	if l.metrics != nil {
		gauge = l.metrics.LiveSubscriptions.WithLabelValues(lc.transport).Add
	}
	gauge(1)
	// The operation's context ends with the subscription, on every
	// transport, whoever ends it.
	context.AfterFunc(ctx, func() {
		lc.subs.Add(-1)
		gauge(-1)
	})
	return next(ctx)
}

// websocketOpened and websocketClosed are internal/gqlws's hooks.
func (l *LiveConnections) websocketOpened(ctx context.Context, goAway func()) {
	if lc := liveConnFrom(ctx); lc != nil {
		lc.goAway = func() { lc.whenIdle(goAway) }
		l.opened(lc, metrics.TransportGraphQLTransportWS)
	}
}

func (l *LiveConnections) websocketClosed(ctx context.Context) {
	if lc := liveConnFrom(ctx); lc != nil {
		l.closed(lc)
	}
}
