// Package httpserver owns the HTTP surface: routing, the middleware every
// request passes (request ids and logs, panics, body limits, CORS,
// authentication), and the health, readiness and metrics endpoints.
package httpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/metrics"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

// Readiness reports whether the server can serve: database reachable,
// migrations applied.
type Readiness func(ctx context.Context) error

// Options is what the router needs.
type Options struct {
	GraphQL     http.Handler
	Auth        *auth.Service
	Ready       Readiness
	Metrics     *metrics.Metrics
	CORSOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// SeparateMetrics leaves /metrics out: it is served on an address of
	// its own (MetricsHandler).
	SeparateMetrics bool
	Logger          *slog.Logger
	// Routes are further handlers by ServeMux pattern, e.g. the approval
	// page and the playground.
	Routes map[string]http.Handler
	// APIRoutes are handlers by ServeMux pattern that read the bearer
	// credential as /query does, e.g. the REST API.
	APIRoutes map[string]http.Handler
	// Errors are the surfaces' error writers: the middleware in front of
	// every route answers in the shape of the API the request is for.
	Errors *apperr.Writers
}

// New returns the server's root handler.
func New(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/query", cors(o.CORSOrigins, graphQLCORS, requireUTF8(o.Errors, authenticate(o.Auth, o.GraphQL))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := o.Ready(ctx); err != nil {
			o.Logger.WarnContext(ctx, "not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /favicon.ico", serveFavicon)
	if !o.SeparateMetrics {
		mux.Handle("GET /metrics", MetricsHandler(o.Metrics))
	}
	for pattern, h := range o.Routes {
		mux.Handle(pattern, h)
	}
	for pattern, h := range o.APIRoutes {
		// A preflight (OPTIONS) reaches the catch-all of the API's prefix.
		mux.Handle(pattern, cors(o.CORSOrigins, restCORS, authenticate(o.Auth, h)))
	}
	return logRequests(o.Logger, o.Metrics, NewClientAddress(o.TrustedProxies), recoverPanics(o.Logger, o.Errors, limitBody(MaxBodyBytes, o.Errors, refuseUncleanAPIPaths(o.Errors, mux))))
}

// ApplyTimeouts sets srv's deadlines for each phase of a connection: the
// headers, the whole request, the answer, and the wait for a kept-alive
// connection's next request. Websocket upgrades leave them behind (net/http
// clears the deadlines of a hijacked connection, and the websocket
// transports bound their own writes); SSE streams and REST long-polls move
// their write deadline on as they go (http.ResponseController).
func ApplyTimeouts(srv *http.Server, t config.HTTP) {
	t = t.WithDefaults()
	srv.ReadHeaderTimeout = t.ReadHeaderTimeout
	srv.ReadTimeout = t.ReadTimeout
	srv.WriteTimeout = t.WriteTimeout
	srv.IdleTimeout = t.IdleTimeout
}

// MetricsHandler serves the Prometheus metrics of m at /metrics.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
