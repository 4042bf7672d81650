package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/metrics"
	"github.com/ottr/backend/internal/platform/ratelimit"
)

// MaxSubscriptionsPerConnection is how many subscriptions one websocket
// connection may run at once; a subscribe past it gets a
// TOO_MANY_SUBSCRIPTIONS error and the connection stays open.
const MaxSubscriptionsPerConnection = 100

// goAwayGrace is how long a websocket connection of a stopping server
// waits for its subscriptions to send their last result before it closes.
const goAwayGrace = 5 * time.Second

// LiveConnections keeps count of the endpoint's websocket and SSE
// connections and their subscriptions (for metrics and the limits), and
// lets shutdown wait until they have all closed. A server builds one and
// passes it in HandlerOptions.
//
// Connections and subscriptions are limited per principal (an API key, or
// a user whatever token they use) and per client address, on this
// instance: one credential or one address cannot take what the server has
// for everyone. A connection over a limit is refused (HTTP 429 before a
// websocket upgrade or an SSE stream; close code 4429 at connection_init,
// where a websocket's credentials arrive), a subscription over one gets a
// RATE_LIMITED error and the connection stays.
type LiveConnections struct {
	metrics *metrics.Metrics
	limits  config.LiveLimits

	mu          sync.Mutex
	conns       map[*liveConn]struct{}
	byPrincipal map[string]*usage
	byAddress   map[string]*usage
	stopping    bool
}

// usage is what one principal or address holds open.
type usage struct{ conns, subs int }

// NewLiveConnections returns an empty set; m may be nil, and zero limits
// are the defaults.
func NewLiveConnections(m *metrics.Metrics, limits config.LiveLimits) *LiveConnections {
	return &LiveConnections{metrics: m, limits: limits.WithDefaults(), conns: map[*liveConn]struct{}{},
		byPrincipal: map[string]*usage{}, byAddress: map[string]*usage{}}
}

// liveConn is one websocket or SSE connection, from its request's context.
type liveConn struct {
	transport string
	subs      atomic.Int64
	// goAway closes a websocket with 1001 as the server stops, once its
	// subscriptions have ended; nil for SSE, whose stream ends with its
	// subscription.
	goAway func()
	// end closes a legacy graphql-ws connection whose transport returned
	// (gqlgen's does not close one whose connection_init it could not
	// decode); nil for the other transports.
	end func()

	// Guarded by LiveConnections.mu.
	address   string // the client address, counted while counted
	principal string // the principal counted, once known; "" for none
	counted   bool   // the connection is counted against its address (and principal)
}

type liveConnKey struct{}

func liveConnFrom(ctx context.Context) *liveConn {
	lc, _ := ctx.Value(liveConnKey{}).(*liveConn)
	return lc
}

// principalOf names the principal of ctx for the limits; "" when the
// request has none (or bad credentials, which its operations report).
func principalOf(ctx context.Context) string {
	p, err := auth.Require(ctx)
	switch {
	case err != nil || p == nil:
		return ""
	case p.APIKey != nil:
		return "key:" + p.APIKey.ID
	default:
		return "user:" + p.UserID
	}
}

// principalWhat is how a message calls a principal of principalOf.
func principalWhat(principal string) string {
	if strings.HasPrefix(principal, "key:") {
		return "this API key"
	}
	return "this user"
}

// track gives websocket upgrades and SSE requests a liveConn in their
// context, counted against the client's address (and, for SSE, whose
// credentials are the request's, its principal) from now until the
// connection closes. SSE connections are open for as long as their
// request runs.
func (l *LiveConnections) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		if r.Header.Get("Upgrade") == "" && !sse {
			next.ServeHTTP(w, r)
			return
		}
		lc := &liveConn{}
		var principal string
		if sse {
			principal = principalOf(r.Context())
		}
		if err := l.admit(lc, ratelimit.ClientIP(r.Context()), principal); err != nil {
			l.countRefusal()
			writeRateLimited(w, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), liveConnKey{}, lc))
		if sse {
			l.opened(lc, metrics.TransportSSE)
			defer l.closed(lc)
		}
		next.ServeHTTP(w, r)
		if sse {
			return
		}
		l.mu.Lock()
		transport, end := lc.transport, lc.end
		l.mu.Unlock()
		switch transport {
		case metrics.TransportGraphQLTransportWS:
			// Its connection runs on: internal/realtime/gqlws reports its end.
		case metrics.TransportGraphQLWS:
			// gqlgen's transport returns when its connection has ended.
			end()
			l.closed(lc)
		default:
			l.closed(lc) // no upgrade
		}
	})
}

// admit counts a new connection against address, and principal when
// known, unless either holds its limit already.
func (l *LiveConnections) admit(lc *liveConn, address, principal string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddress[address]
	if a != nil && a.conns >= l.limits.ConnectionsPerAddress {
		return tooManyConnections("this client address", l.limits.ConnectionsPerAddress)
	}
	if p := l.byPrincipal[principal]; principal != "" && p != nil && p.conns >= l.limits.ConnectionsPerPrincipal {
		return tooManyConnections(principalWhat(principal), l.limits.ConnectionsPerPrincipal)
	}
	if a == nil {
		a = &usage{}
		l.byAddress[address] = a
	}
	a.conns++
	lc.address, lc.counted = address, true
	if principal != "" {
		l.usageOf(principal).conns++
		lc.principal = principal
	}
	return nil
}

// authenticated counts a websocket against the principal its
// connection_init brought (ctx is the connection's context from then on),
// unless the principal holds its limit already.
func (l *LiveConnections) authenticated(ctx context.Context) error {
	lc := liveConnFrom(ctx)
	principal := principalOf(ctx)
	if lc == nil || principal == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !lc.counted || lc.principal != "" {
		return nil // closed already, or counted with the request's credentials
	}
	if p := l.byPrincipal[principal]; p != nil && p.conns >= l.limits.ConnectionsPerPrincipal {
		l.countRefusalLocked()
		return tooManyConnections(principalWhat(principal), l.limits.ConnectionsPerPrincipal)
	}
	l.usageOf(principal).conns++
	lc.principal = principal
	return nil
}

// usageOf returns the principal's usage, made if needed; l.mu is held.
func (l *LiveConnections) usageOf(principal string) *usage {
	u := l.byPrincipal[principal]
	if u == nil {
		u = &usage{}
		l.byPrincipal[principal] = u
	}
	return u
}

// release uncounts lc's connection; l.mu is held.
func (l *LiveConnections) release(lc *liveConn) {
	if !lc.counted {
		return
	}
	lc.counted = false
	if a := l.byAddress[lc.address]; a != nil {
		a.conns--
		l.forget(l.byAddress, lc.address, a)
	}
	if p := l.byPrincipal[lc.principal]; lc.principal != "" && p != nil {
		p.conns--
		l.forget(l.byPrincipal, lc.principal, p)
	}
}

// forget drops an entry that holds nothing any more; l.mu is held.
func (l *LiveConnections) forget(m map[string]*usage, key string, u *usage) {
	if u.conns <= 0 && u.subs <= 0 {
		delete(m, key)
	}
}

// connectionRetry is what a refused connection or subscription is told to
// wait: a slot frees as soon as another ends.
const connectionRetry = time.Second

func tooManyConnections(what string, limit int) error {
	return &apperr.Error{Code: apperr.CodeRateLimited, RetryAfter: connectionRetry,
		Message: what + " already holds " + strconv.Itoa(limit) + " open websocket and SSE connections, the most allowed; close one first"}
}

func tooManySubscriptions(what string, limit int) error {
	return &apperr.Error{Code: apperr.CodeRateLimited, RetryAfter: connectionRetry,
		Message: what + " already runs " + strconv.Itoa(limit) + " subscriptions, the most allowed; complete one first"}
}

// rateLimitedError is err (a RATE_LIMITED apperr.Error) as the contract
// shows it.
func rateLimitedError(err error) *gqlerror.Error {
	e, _ := apperr.As(err)
	return &gqlerror.Error{Message: e.Message, Extensions: map[string]any{
		"code": string(apperr.CodeRateLimited), "retryAfterSeconds": int(connectionRetry / time.Second),
	}}
}

// writeRateLimited refuses a websocket upgrade or an SSE request.
func writeRateLimited(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(int(connectionRetry/time.Second)))
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(graphql.Response{Errors: gqlerror.List{rateLimitedError(err)}})
}

func (l *LiveConnections) countRefusal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.countRefusalLocked()
}

func (l *LiveConnections) countRefusalLocked() {
	if l.metrics != nil {
		l.metrics.GraphQLErrors.WithLabelValues(string(apperr.CodeRateLimited)).Inc()
	}
}

// opened counts a connection of transport.
func (l *LiveConnections) opened(lc *liveConn, transport string) {
	l.mu.Lock()
	lc.transport = transport
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
	l.release(lc)
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
// refuses one past MaxSubscriptionsPerConnection, or past the limits of
// the connection's principal or address.
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
	if err := l.holdSubscription(lc); err != nil {
		lc.subs.Add(-1)
		l.countRefusal()
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{rateLimitedError(err)}})
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
		l.releaseSubscription(lc)
		gauge(-1)
	})
	return next(ctx)
}

// holdSubscription counts a subscription of lc against its address and
// principal, unless either runs its limit already.
func (l *LiveConnections) holdSubscription(lc *liveConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddress[lc.address]
	if a == nil {
		// The connection has closed meanwhile: its operations end with it.
		a = &usage{}
		l.byAddress[lc.address] = a
	}
	if a.subs >= l.limits.SubscriptionsPerAddress {
		return tooManySubscriptions("this client address", l.limits.SubscriptionsPerAddress)
	}
	if lc.principal != "" {
		p := l.usageOf(lc.principal)
		if p.subs >= l.limits.SubscriptionsPerPrincipal {
			return tooManySubscriptions(principalWhat(lc.principal), l.limits.SubscriptionsPerPrincipal)
		}
		p.subs++
	}
	a.subs++
	return nil
}

// releaseSubscription uncounts a subscription holdSubscription counted.
func (l *LiveConnections) releaseSubscription(lc *liveConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.byAddress[lc.address]; a != nil {
		a.subs--
		l.forget(l.byAddress, lc.address, a)
	}
	if p := l.byPrincipal[lc.principal]; lc.principal != "" && p != nil {
		p.subs--
		l.forget(l.byPrincipal, lc.principal, p)
	}
}

// websocketOpened and websocketClosed are internal/realtime/gqlws's hooks.
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
