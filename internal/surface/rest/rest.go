// Package rest serves the REST v1 API for scripts and CI: approvals and
// keys of the project that the request's API key belongs to, in the shapes
// of Ottr's public REST API. It is a thin layer over the same domain
// services as GraphQL; it owns only HTTP concerns: routes, JSON, status
// codes, the long-poll and the OpenAPI document.
package rest

import (
	_ "embed"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/realtime/live"
)

// MaxWait caps a long-poll's ?wait=.
const MaxWait = 60 * time.Second

// answerWithin is how long a long-poll's answer may take to write once its
// wait is over.
const answerWithin = 10 * time.Second

// MaxWaitsPerKey is how many long-polls one API key may hold open at once;
// one more answers 429. A script waits for its approvals one or a few at a
// time; a loop that forgot to wait for the answer runs into this.
const MaxWaitsPerKey = 10

// Options is what the API needs.
type Options struct {
	Approvals *approval.Service
	Projects  *project.Service
	Channels  *slack.Service
	// Live opens the stream of an approval a long-poll waits on.
	Live *live.Subscriptions
	// Webhooks manages the project's webhook endpoints.
	Webhooks *webhook.Service
	// Callbacks holds the project's callback secret.
	Callbacks *webhook.Callbacks
	Logger    *slog.Logger
}

// API is the REST v1 API.
type API struct {
	approvals *approval.Service
	projects  *project.Service
	channels  *slack.Service
	live      *live.Subscriptions
	webhooks  *webhook.Service
	callbacks *webhook.Callbacks
	logger    *slog.Logger

	mu    sync.Mutex
	waits map[string]int // open long-polls by API key id

	drainOnce sync.Once
	draining  chan struct{} // closed when the server shuts down
}

// New returns the API.
func New(o Options) *API {
	return &API{approvals: o.Approvals, projects: o.Projects, channels: o.Channels, live: o.Live, webhooks: o.Webhooks, callbacks: o.Callbacks, logger: o.Logger, waits: map[string]int{}, draining: make(chan struct{})}
}

// Drain ends the long-polls in flight, and makes new ones answer at once,
// each with the approval's current state, so that a shutdown does not
// wait for them; clients poll again (on another instance).
func (a *API) Drain() { a.drainOnce.Do(func() { close(a.draining) }) }

// route is one operation: its ServeMux pattern and the paths it serves in
// the OpenAPI document.
type route struct {
	method  string
	pattern string   // ServeMux path pattern
	paths   []string // OpenAPI paths
	handle  http.HandlerFunc
}

func (a *API) routes() []route {
	return append([]route{
		{http.MethodPost, "/v1/approvals", []string{"/v1/approvals"}, a.createApproval},
		{http.MethodGet, "/v1/approvals", []string{"/v1/approvals"}, a.listApprovals},
		{http.MethodGet, "/v1/project", []string{"/v1/project"}, a.getProject},
		{http.MethodGet, "/v1/slack/channels", []string{"/v1/slack/channels"}, a.listChannels},
		{http.MethodPut, "/v1/slack/channels/{name}", []string{"/v1/slack/channels/{name}"}, a.putChannel},
		{http.MethodPost, "/v1/slack/channels/{name}/test", []string{"/v1/slack/channels/{name}/test"}, a.testChannel},
		{http.MethodDelete, "/v1/slack/channels/{name}", []string{"/v1/slack/channels/{name}"}, a.deleteChannel},
		{http.MethodGet, "/v1/approvals/{id}", []string{"/v1/approvals/{id}"}, a.getApproval},
		{http.MethodPost, "/v1/approvals/{id}/invalidate", []string{"/v1/approvals/{id}/invalidate"}, a.invalidateApproval},
		// A key path has slashes, so one pattern serves the key and its
		// pending approval (a path ending in /pending).
		{http.MethodGet, "/v1/key/{path...}", []string{"/v1/key/{key_path}", "/v1/key/{key_path}/pending"}, a.getKey},
		{http.MethodPut, "/v1/key/{path...}", []string{"/v1/key/{key_path}"}, a.putKey},
		{http.MethodGet, "/v1/openapi.json", []string{"/v1/openapi.json"}, serveOpenAPI},
	}, append(a.webhookRoutes(), a.callbackSecretRoutes()...)...)
}

// Operations lists the API's operations as "METHOD /openapi/path", for
// the test that holds the OpenAPI document to the routes.
func (a *API) Operations() []string {
	var ops []string
	for _, r := range a.routes() {
		for _, p := range r.paths {
			ops = append(ops, r.method+" "+p)
		}
	}
	return ops
}

// Routes are the API's handlers by ServeMux pattern; they expect the
// request's bearer credential in the context (httpserver's APIRoutes).
// Anything else under /v1/ answers a JSON 404.
func (a *API) Routes() map[string]http.Handler {
	m := map[string]http.Handler{"/v1/": http.HandlerFunc(unknownRoute)}
	for _, r := range a.routes() {
		m[r.method+" "+r.pattern] = noStore(r.handle)
	}
	return m
}

// noStore keeps responses, which may carry approval links, out of caches.
// It also refuses a path that is not text (ids and key paths come from
// it): bytes that are not UTF-8, or control characters such as NUL, which
// no id or key path holds and PostgreSQL cannot compare.
func noStore(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !utf8.ValidString(r.URL.Path) || strings.IndexFunc(r.URL.Path, unicode.IsControl) >= 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: errorDetail{Code: apperr.CodeBadUserInput, Field: "path",
				Message: "the URL path must be UTF-8 text without control characters"}})
			return
		}
		h(w, r)
	})
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the API's OpenAPI 3.1 document.
func OpenAPI() []byte { return openAPI }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
