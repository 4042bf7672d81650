// Package metrics holds the Prometheus collectors the server exports at
// /metrics.
package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ottr/backend/internal/platform/buildinfo"
)

// Metrics is the set of collectors of one server.
type Metrics struct {
	Registry        *prometheus.Registry
	HTTPRequests    *prometheus.CounterVec
	HTTPDuration    *prometheus.HistogramVec
	GraphQLDuration *prometheus.HistogramVec
	GraphQLErrors   *prometheus.CounterVec
	// LiveConnections are the open websocket and SSE connections by
	// transport: graphql-transport-ws, graphql-ws, sse.
	LiveConnections *prometheus.GaugeVec
	// LiveSubscriptions are the subscriptions running on them.
	LiveSubscriptions *prometheus.GaugeVec
	// SlackDeliveries counts delivery attempts by outcome: delivered,
	// retrying, failed, skipped, and unknown (in flight when a server died).
	SlackDeliveries *prometheus.CounterVec
	Business
}

// Transports of live connections, the values of LiveConnections' label.
const (
	TransportGraphQLTransportWS = "graphql-transport-ws"
	TransportGraphQLWS          = "graphql-ws"
	TransportSSE                = "sse"
)

// New registers the collectors on a fresh registry (one per server, so that
// tests can run several servers in one process).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ottr_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ottr_http_request_duration_seconds", Help: "HTTP request durations by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		GraphQLDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ottr_graphql_operation_duration_seconds", Help: "GraphQL operation durations by type and first root field.",
			Buckets: prometheus.DefBuckets,
		}, []string{"type", "field"}),
		GraphQLErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ottr_graphql_errors_total", Help: "GraphQL errors by extensions.code.",
		}, []string{"code"}),
		LiveConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ottr_live_connections", Help: "Open websocket and SSE connections of the GraphQL endpoint, by transport.",
		}, []string{"transport"}),
		LiveSubscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ottr_live_subscriptions", Help: "Running GraphQL subscriptions, by transport.",
		}, []string{"transport"}),
		SlackDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ottr_slack_deliveries_total", Help: "Slack delivery attempts by outcome: delivered, retrying, failed, skipped, unknown (in flight when a server died; Slack may have posted it).",
		}, []string{"outcome"}),
	}
	for _, t := range []string{TransportGraphQLTransportWS, TransportGraphQLWS, TransportSSE} {
		m.LiveConnections.WithLabelValues(t)
		m.LiveSubscriptions.WithLabelValues(t)
	}
	for _, o := range []string{"delivered", "retrying", "failed", "skipped", "unknown"} {
		m.SlackDeliveries.WithLabelValues(o)
	}
	m.Registry.MustRegister(m.HTTPRequests, m.HTTPDuration, m.GraphQLDuration, m.GraphQLErrors,
		m.LiveConnections, m.LiveSubscriptions, m.SlackDeliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Which build serves: one series, always 1, labelled as ottr version
	// prints it.
	version, revision := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ottr_build_info", Help: "The running build: its version and VCS revision; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision}})
	build.Set(1)
	m.Registry.MustRegister(build)
	m.Business = newBusiness(m.Registry)
	return m
}

// WatchDatabase adds the connection pool's statistics (sql.DBStats: open,
// in use, idle, waits) as go_sql_* metrics with db_name "ottr".
func (m *Metrics) WatchDatabase(db *sql.DB) {
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "ottr"))
}

// WatchQueue adds ottr_queue_jobs, the number of jobs by state that depth
// reports when /metrics is scraped. Each scrape asks once, within
// queueScrapeTimeout; a failed count leaves the metric out of that scrape.
func (m *Metrics) WatchQueue(depth func(ctx context.Context) (map[string]int64, error), logger *slog.Logger) {
	m.Registry.MustRegister(&queueCollector{depth: depth, logger: logger, desc: prometheus.NewDesc(
		"ottr_queue_jobs", "Background jobs (Slack deliveries) waiting or running, by River job state; counted up to 10000 per state at scrape time.",
		[]string{"state"}, nil)})
}

const queueScrapeTimeout = 2 * time.Second

type queueCollector struct {
	depth  func(ctx context.Context) (map[string]int64, error)
	logger *slog.Logger
	desc   *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	counts, err := c.depth(ctx)
	if err != nil {
		c.logger.Warn("metrics: queue depth unavailable", "err", err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}
