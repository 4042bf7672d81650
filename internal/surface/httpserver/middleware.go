package httpserver

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/metrics"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/requestlog"
	"github.com/ottr/backend/internal/platform/surrogate"
)

// statusWriter records the status code and keeps the writer's optional
// interfaces (websockets hijack, SSE flushes).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot hijack")
	}
	w.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// logRequests gives each request an id and writes one log line for it. The
// query string is never logged: GET requests may carry tokens in it. The
// route is the ServeMux pattern that served the request, which the mux
// records on the request it is given (next must pass it on unchanged).
func logRequests(logger *slog.Logger, m *metrics.Metrics, clients ClientAddress, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ip := clients.Of(r)
		ctx := requestlog.WithID(r.Context(), id)
		ctx, note := requestlog.WithNote(ctx)
		ctx = ratelimit.WithClientIP(ctx, ip)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		elapsed := time.Since(start)
		rt := route(r.Pattern)
		m.HTTPRequests.WithLabelValues(rt, r.Method, strconv.Itoa(sw.status)).Inc()
		m.HTTPDuration.WithLabelValues(rt).Observe(elapsed.Seconds())
		// Probes come every few seconds and say nothing when they pass.
		level := slog.LevelInfo
		if (rt == "/healthz" || rt == "/readyz") && sw.status == http.StatusOK {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", rt),
			slog.Int("status", sw.status), slog.Float64("took_ms", Millis(elapsed)), slog.String("ip", ip)}
		if op := note.Operation(); op != "" {
			attrs = append(attrs, slog.String("operation", op))
		}
		logger.LogAttrs(ctx, level, "request", attrs...)
	})
}

// route is the label of a ServeMux pattern in metrics and logs: its path
// alone ("GET /healthz" and "/query" alike give the path; the method is a
// label of its own), "unmatched" for no pattern.
func route(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// Millis is a duration in milliseconds, to the microsecond, as logs show
// durations: slog's own durations are nanoseconds in JSON.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recoverPanics answers 500 instead of dropping the connection, and logs.
func recoverPanics(logger *slog.Logger, errs *apperr.Writers, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(r.Context(), "panic in handler", "panic", p, "request_id", requestlog.ID(r.Context()))
				errs.Write(w, r, apperr.Internal())
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody reads at most limit bytes of a request body; a larger body gets
// 413 before any handler sees it. The server's ReadTimeout bounds the
// read: a body that comes slowly, or never, gets 400 and the connection
// closes.
func limitBody(limit int64, errs *apperr.Writers, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			clearReadDeadline(w)
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			errs.WriteStatus(w, r, http.StatusRequestEntityTooLarge, apperr.Invalid("", "request body too large"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			errs.Write(w, r, apperr.Invalid("", "could not read request body"))
			return
		}
		if int64(len(body)) > limit {
			errs.WriteStatus(w, r, http.StatusRequestEntityTooLarge, apperr.Invalid("", "request body too large"))
			return
		}
		r.Body = &bufferedBody{Reader: bytes.NewReader(body), data: body}
		clearReadDeadline(w)
		next.ServeHTTP(w, r)
	})
}

// clearReadDeadline lifts the server's ReadTimeout once the request has
// been read whole. From then on net/http only watches the connection for
// the client going away, and that watch, failing at the deadline, would
// cancel the context of a request that runs longer than ReadTimeout (an
// SSE stream, a long-poll). WriteTimeout still bounds the answer.
func clearReadDeadline(w http.ResponseWriter) {
	// ErrNotSupported outside a real server (httptest.ResponseRecorder).
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// bufferedBody is a body limitBody read whole; later middleware may look
// at its bytes without reading (and copying) them again.
type bufferedBody struct {
	*bytes.Reader
	data []byte
}

func (*bufferedBody) Close() error { return nil }

// corsAllowedHeaders are the request headers a dashboard may send: ours,
// and the tracing headers that browser instrumentation (OpenTelemetry,
// Sentry, Apollo Client) adds to every request, which a preflight would
// otherwise refuse, failing the request itself.
const corsAllowedHeaders = "Authorization, Content-Type, X-Request-Id, " +
	"traceparent, tracestate, baggage, sentry-trace, apollographql-client-name, apollographql-client-version"

// requireUTF8 answers BAD_USER_INPUT to a GraphQL request whose body or
// query string is not UTF-8, as JSON and GraphQL require, or whose JSON
// (the body, or the variables and extensions of a GET) escapes a UTF-16
// surrogate that pairs with nothing: decoding would silently replace
// either with U+FFFD, and the replacement would be stored in place of what
// the client sent. It checks the body limitBody buffered (every body is).
// The query's own string values are checked once parsed, for every
// transport (graph's textCheck).
func requireUTF8(errs *apperr.Writers, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query, err := url.QueryUnescape(r.URL.RawQuery)
		if err != nil || !utf8.ValidString(query) {
			errs.Write(w, r, apperr.Invalid("", "the query string is not valid URL-encoded UTF-8"))
			return
		}
		b, buffered := r.Body.(*bufferedBody)
		if buffered && !utf8.Valid(b.data) {
			errs.Write(w, r, apperr.TextNotUTF8.Refusal("", "the request body"))
			return
		}
		if surrogate.InJSON(query) >= 0 {
			// Rare: only now is the query string parsed, to name the place.
			params := r.URL.Query()
			for _, name := range []string{"variables", "extensions"} {
				if path, found := surrogate.Find([]byte(params.Get(name))); found {
					writeLoneSurrogate(errs, w, r, strings.TrimSuffix(name+"."+path, "."))
					return
				}
			}
		}
		if buffered {
			if path, found := surrogate.Find(b.data); found {
				writeLoneSurrogate(errs, w, r, path)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// writeLoneSurrogate answers a GraphQL request whose JSON holds a lone
// surrogate at path with BAD_USER_INPUT naming the place.
func writeLoneSurrogate(errs *apperr.Writers, w http.ResponseWriter, r *http.Request, path string) {
	errs.Write(w, r, surrogate.Refusal(path))
}

// corsPolicy is what a browser on an allowed origin may do with one API.
type corsPolicy struct {
	methods string // Access-Control-Allow-Methods
	headers string // Access-Control-Allow-Headers
	// expose are the response headers the page's script may read: the
	// request id to quote in a report, Retry-After to wait as asked.
	expose string
	// credentials lets the page send cookies (fetch's credentials:
	// "include"): the refresh-token cookie of a session in cookie mode.
	credentials bool
}

var (
	graphQLCORS = corsPolicy{methods: "GET, POST, OPTIONS", headers: corsAllowedHeaders + ", X-Ottr-Session",
		expose: "X-Request-Id, Retry-After", credentials: true}
	restCORS = corsPolicy{
		methods: "GET, POST, PUT, PATCH, DELETE, OPTIONS",
		headers: corsAllowedHeaders + ", Idempotency-Key",
		expose:  "X-Request-Id, Retry-After, Location, Idempotent-Replayed",
	}
)

// cors lets the dashboard's origins call the API from a browser: it
// answers their preflight requests, and names the response headers their
// scripts may read. Credentials travel in the Authorization header.
func cors(origins []string, p corsPolicy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer depends on the Origin, allowed or not: caches must know.
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin != "" && slices.Contains(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			if p.credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", p.methods)
				h.Set("Access-Control-Allow-Headers", p.headers)
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", p.expose)
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate resolves the bearer credential, if any, into the context.
// Bad credentials are remembered, not refused here, so that public
// operations still work; operations that need a principal report them.
func authenticate(a *auth.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, cred, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
				ctx = auth.WithPrincipal(ctx, nil, auth.ErrBadAuthorizationHeader)
			} else {
				p, err := a.Authenticate(ctx, strings.TrimSpace(cred))
				ctx = auth.WithPrincipal(ctx, p, err)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
