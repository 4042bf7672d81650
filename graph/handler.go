package graph

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/metrics"
	"github.com/ottr/backend/internal/platform/requestlog"
	"github.com/ottr/backend/internal/realtime/gqlws"
	"github.com/ottr/backend/internal/realtime/live"
)

// Limits that keep one query from costing the server more than a page view.
const (
	ComplexityLimit  = 2500
	DepthLimit       = 10
	ParserTokenLimit = 5000
)

// HandlerOptions configures the GraphQL endpoint.
type HandlerOptions struct {
	Introspection bool
	// InsecureSessionCookie leaves Secure off the refresh-token cookie, for
	// a dashboard served over plain HTTP on another host than localhost
	// (OTTR_SESSION_COOKIE_SECURE=false).
	InsecureSessionCookie bool
	// CORSOrigins are also the origins a websocket may come from (requests
	// without an Origin header, from other programs than browsers, are
	// accepted).
	CORSOrigins []string
	Metrics     *metrics.Metrics
	Logger      *slog.Logger
	// InitTimeout is how long a websocket may wait before connection_init;
	// 0 means 10s.
	InitTimeout time.Duration
	// KeepAlive is the interval of websocket and SSE keep-alives; 0 means
	// 15s. A websocket client that takes twice as long to accept one
	// message is disconnected.
	KeepAlive time.Duration
	// Buffer is how many messages a graphql-transport-ws connection may
	// fall behind before its shared subscriptions are dropped; 0 means the
	// event broker's default.
	Buffer int
	// WriteTimeout bounds each write of an SSE stream, which outlives the
	// server's own WriteTimeout; 0 means config.DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Live counts websocket and SSE connections and their subscriptions,
	// and holds their limits; nil: a set of its own, with the default
	// limits.
	Live *LiveConnections
	// Stopping, closed when the server begins to stop, makes websocket
	// connections close with 1001 once their subscriptions have ended.
	Stopping <-chan struct{}
}

// NewHandler builds the GraphQL endpoint: transports added by hand
// (websocket first), a query cache, persisted queries, cost limits, and an
// error presenter that shows only safe messages with the contract's codes.
func NewHandler(r *Resolver, opts HandlerOptions) http.Handler {
	srv := handler.New(NewExecutableSchema(newConfig(r)))
	logger := opts.Logger
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = 10 * time.Second
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = event.DefaultBuffer
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = config.DefaultWriteTimeout
	}
	if opts.Live == nil {
		opts.Live = NewLiveConnections(opts.Metrics, config.LiveLimits{})
	}

	safe := func(ctx context.Context, err error, where string) error {
		if _, ok := apperr.As(err); ok {
			return err
		}
		if ctx.Err() != nil {
			// The client has gone: the store refused the work it no longer needs.
			return errClientGone
		}
		// The cause stays in the log; the client learns only that it failed.
		return apperr.Present(ctx, logger, "resolver", err, "field", where, "request_id", requestlog.ID(ctx))
	}

	// graphql-transport-ws (the graphql-ws library) on the transport of
	// internal/realtime/gqlws, which shares projectEvents renderings between
	// subscribers; the legacy graphql-ws protocol stays on gqlgen's.
	srv.AddTransport(gqlws.New(gqlws.Options{
		Init: func(ctx context.Context, payload map[string]any) (context.Context, error) {
			return r.initConnection(ctx, logger, opts.Live, payload)
		},
		InitTimeout:    opts.InitTimeout,
		KeepAlive:      opts.KeepAlive,
		WriteTimeout:   2 * opts.KeepAlive,
		OriginPatterns: opts.CORSOrigins,
		QueueLimit:     opts.Buffer,
		StreamError: func(ctx context.Context, err error) error {
			return safe(ctx, err, "subscription")
		},
		Opened: opts.Live.websocketOpened,
		Closed: opts.Live.websocketClosed,
		Expiry: func(ctx context.Context) time.Time {
			if p, err := auth.Require(ctx); err == nil {
				return p.ExpiresAt
			}
			return time.Time{}
		},
		Expired: live.TokenExpired,
	}))
	srv.AddTransport(transport.Websocket{
		Implementation: websockets{
			CoderWebsocketImplementation: transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{
				// With a scheme, coder/websocket matches "scheme://host" exactly,
				// as CORS does.
				OriginPatterns: opts.CORSOrigins,
			}},
			initTimeout: opts.InitTimeout, // gqlgen's own InitTimeout closes with 1002
			// A client that cannot take one message in two keep-alive
			// intervals is as dead as one that misses a pong for as long.
			writeTimeout: 2 * opts.KeepAlive,
			live:         opts.Live,
		},
		InitFunc:              r.websocketInit(logger, opts.Live),
		KeepAlivePingInterval: opts.KeepAlive, // legacy graphql-ws: "ka" messages
	})
	srv.AddTransport(sse{SSE: transport.SSE{KeepAlivePingInterval: opts.KeepAlive}, writeTimeout: opts.WriteTimeout})
	srv.AddTransport(getTransport{})
	srv.AddTransport(postTransport{})
	srv.AddTransport(unsupportedTransport{}) // last: it takes every request

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(ParserTokenLimit)
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	// Depth first: a deep document is refused for its depth, which says
	// more than the cost that its nesting multiplies.
	srv.Use(depthLimit{max: DepthLimit})
	srv.Use(newComplexityLimit(ComplexityLimit))
	srv.Use(&variableCheck{})
	srv.Use(textCheck{})
	srv.Use(introspectionLimit{})
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.SetDisableSuggestion(!opts.Introspection)
	srv.SetValidationRulesFn(validationRules(opts.Introspection))

	srv.AroundFields(aroundFields(opts.Introspection, safe))
	// Loaders live for one response: one query, one mutation, one event of
	// a subscription.
	srv.AroundResponses(withLoaders(r))
	srv.AroundOperations(opts.Live.countSubscriptions)
	srv.AroundResponses(endStreamWithError(func(ctx context.Context, err error) error {
		return safe(ctx, err, "subscription")
	}))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()), "request_id", requestlog.ID(ctx))
		return apperr.Internal()
	})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		code := present(ctx, gqlErr, err)
		if opts.Metrics != nil {
			opts.Metrics.GraphQLErrors.WithLabelValues(string(code)).Inc()
		}
		return gqlErr
	})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		opType, field := operationLabels(oc.Operation)
		// The request's log line names the operation as the client did
		// (never the document: it may hold secrets inline).
		name := oc.OperationName
		if name == "" && oc.Operation != nil {
			name = oc.Operation.Name
		}
		requestlog.SetOperation(ctx, strings.TrimSpace(opType+" "+name))
		if opType == "subscription" {
			ctx = withStreamEnd(ctx)
		}
		start := time.Now()
		h := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := h(ctx)
			if opts.Metrics != nil && opType != "subscription" {
				opts.Metrics.GraphQLDuration.WithLabelValues(opType, field).Observe(time.Since(start).Seconds())
			}
			return resp
		}
	})
	if opts.Stopping != nil {
		go func() {
			<-opts.Stopping
			opts.Live.stop()
		}()
	}
	return opts.Live.track(withRetryAfter(withSessionCookies(!opts.InsecureSessionCookie, srv)))
}

// errClientGone answers what the executor still asks of a request whose
// client has gone; nobody reads it.
var errClientGone = &apperr.Error{Code: apperr.CodeInternal, Message: "the request was cancelled"}

// newConfig is the executor's configuration: the resolvers, and no
// complexity functions, which complexityLimit relies on.
func newConfig(r *Resolver) Config { return Config{Resolvers: r} }

// isIntrospection reports whether fc is one of the root introspection
// fields.
func isIntrospection(fc *graphql.FieldContext) bool {
	return fc != nil && fc.Object == "Query" && (fc.Field.Name == "__schema" || fc.Field.Name == "__type")
}

// operationLabels names an operation for metrics by its type and first root
// field. Not by the operation name: clients choose that freely, and every
// new label value is a new time series kept for the life of the process.
// Root fields are the schema's, a bounded set.
func operationLabels(op *ast.OperationDefinition) (opType, field string) {
	if op == nil {
		return "unknown", "unknown"
	}
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return string(op.Operation), f.Name
		}
	}
	return string(op.Operation), "fragment"
}

// present fills in the contract's extensions and a safe message.
func present(ctx context.Context, gqlErr *gqlerror.Error, err error) apperr.Code {
	if gqlErr.Extensions == nil {
		gqlErr.Extensions = map[string]any{}
	}
	if e, ok := apperr.As(err); ok {
		gqlErr.Message = e.Message
		gqlErr.Extensions["code"] = string(e.Code)
		if e.Field != "" {
			gqlErr.Extensions["field"] = e.Field
		}
		switch e.Code {
		case apperr.CodeRateLimited:
			seconds := int(math.Ceil(e.RetryAfter.Seconds()))
			gqlErr.Extensions["retryAfterSeconds"] = seconds
			noteRetryAfter(ctx, seconds)
		case apperr.CodeInternal:
			gqlErr.Extensions["requestId"] = requestlog.ID(ctx)
		}
		return e.Code
	}
	// Resolver failures were turned into domain errors by AroundFields, so
	// what is left comes from gqlgen itself: parse and validation failures,
	// limits, persisted queries, argument coercion. Their messages describe
	// the request only.
	if field, ok := variableField(gqlErr); ok {
		// gqlparser's refusal of a variable's value: the client's input, as
		// variableCheck's refusals are, not a document that fails validation.
		gqlErr.Message = "variable $" + field + " " + gqlErr.Message
		gqlErr.Path = nil
		gqlErr.Extensions["code"] = string(apperr.CodeBadUserInput)
		gqlErr.Extensions["field"] = field
		return apperr.CodeBadUserInput
	}
	code := gqlgenCode(gqlErr)
	gqlErr.Extensions["code"] = string(code)
	return code
}
