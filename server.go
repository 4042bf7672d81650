// Package app wires the server together: configuration, store, domain
// services, background workers and the HTTP handler. The main package and
// the tests build the same server through it.
package ottr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/riverqueue/river"

	"github.com/ottr/backend/graph"
	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/metrics"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/realtime/live"
	"github.com/ottr/backend/internal/surface/approvalpage"
	"github.com/ottr/backend/internal/surface/httpserver"
	"github.com/ottr/backend/internal/surface/playground"
	"github.com/ottr/backend/internal/surface/rest"
	"github.com/ottr/backend/internal/surface/slackinteract"
)

// App is one running server instance.
type App struct {
	Config  config.Config
	Store   *store.Store
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Recorder is where every event is written; deliveries and live
	// streaming hook into it.
	Recorder *event.Recorder
	// Approvals runs approvals and keys; the approval page builds on it.
	Approvals *approval.Service
	// Feed publishes committed events to this instance's subscribers.
	Feed *live.Feed
	// Live counts the websocket and SSE connections of the GraphQL
	// endpoint.
	Live    *graph.LiveConnections
	handler http.Handler
	// interactions replies to Slack clicks in the background, reading the
	// store: Close stops it first, whatever else was started after it.
	interactions *slackinteract.Handler
	closers      []func() error
	// drain ends what a shutdown should not wait for (long-polls).
	drain func()
}

// New opens the database, applies migrations and builds the handler. A
// failed migration stops here: the server never runs on a half-migrated
// database.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger) (*App, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st.SetLogger(logger)
	if cfg.OnDatabase != nil {
		if err := cfg.OnDatabase(st.DB(ctx)); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	if cfg.OnDirectStatement != nil {
		st.OnDirectStatement(cfg.OnDirectStatement)
	}
	a := &App{Config: cfg, Store: st, Logger: logger, Metrics: metrics.New()}
	a.Metrics.WatchDatabase(st.SQL())
	a.closers = append(a.closers, st.Close)
	if err := st.Migrate(ctx); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("database migration failed, not starting: %w", err)
	}

	a.Recorder = event.NewRecorder(st)
	a.Recorder.OnCommit(a.countApprovalEvent)
	a.Feed, err = live.StartFeed(ctx, st, a.Recorder, live.FeedOptions{Buffer: cfg.Live.Buffer, Logger: logger})
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.closers = append(a.closers, a.Feed.Close)
	authSvc := auth.NewService(st, auth.NewTokens(cfg.JWTSecret).WithTTL(cfg.AccessTokenTTL), cfg.Now).WithLogger(logger)
	a.closers = append(a.closers, func() error { authSvc.Close(); return nil })
	authz := project.NewAuthorizer(st)
	a.Approvals = approval.NewService(approval.Options{Store: st, Authz: authz, Recorder: a.Recorder,
		Secret: cfg.JWTSecret, PublicURL: cfg.PublicURL, Now: cfg.Now})
	// Read before River starts, so that its first sweep (RunOnStart) runs
	// when a project had opted in.
	stopOptIns, err := a.Approvals.WatchDeadlineOptIns(ctx, approval.OptInRefreshEvery, logger)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.closers = append(a.closers, stopOptIns)
	channels, endpoints, callbacks, dispatcher, err := a.startSlack(ctx, authz)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	subscriptions := live.NewSubscriptions(a.Feed, st, live.Services{Authz: authz, Keys: authSvc, Approvals: a.Approvals},
		live.Options{Recheck: cfg.Live.Recheck, Buffer: cfg.Live.Buffer})
	projects := project.NewService(st, authz)
	projects.OnKeysChanged(func(keyID, projectID string) {
		if keyID != "" {
			authSvc.ForgetKey(keyID)
		}
		if projectID != "" {
			authSvc.ForgetProjectKeys(projectID)
		}
	})
	projects.OnDeadlineOptIn(a.Approvals.NoteDeadlineOptIn)
	api := rest.New(rest.Options{Approvals: a.Approvals, Projects: projects, Channels: channels, Live: subscriptions, Webhooks: endpoints, Callbacks: callbacks, Logger: logger})
	a.drain = api.Drain
	resolver := &graph.Resolver{
		AuthService:     authSvc,
		ProjectService:  projects,
		ApprovalService: a.Approvals,
		EventQueries:    event.NewQueries(st, authz),
		Live:            subscriptions,
		SlackService:    channels,
		WebhookService:  endpoints,
		CallbackService: callbacks,
		Dispatcher:      dispatcher,
		PublicURL:       cfg.PublicURL,
	}
	a.interactions = a.newInteractions(channels)
	a.Live = graph.NewLiveConnections(a.Metrics, cfg.Live.Limits)
	gql := graph.NewHandler(resolver, graph.HandlerOptions{
		Introspection:         cfg.Introspection,
		InsecureSessionCookie: cfg.InsecureSessionCookie,
		CORSOrigins:           cfg.CORSOrigins,
		Metrics:               a.Metrics,
		Logger:                logger,
		InitTimeout:           cfg.Live.InitTimeout,
		KeepAlive:             cfg.Live.KeepAlive,
		Buffer:                cfg.Live.Buffer,
		WriteTimeout:          cfg.HTTP.WithDefaults().WriteTimeout,
		Live:                  a.Live,
		Stopping:              a.Feed.Closed(),
	})
	// Each surface answers the shared middleware's refusals in its own
	// shape: REST under /v1/, GraphQL's everywhere else.
	errs := &apperr.Writers{}
	errs.Register("", graph.WriteRequestError)
	errs.Register("/v1/", rest.WriteError)
	a.handler = httpserver.New(httpserver.Options{
		Errors:          errs,
		GraphQL:         gql,
		Auth:            authSvc,
		Ready:           a.ready,
		Metrics:         a.Metrics,
		CORSOrigins:     cfg.CORSOrigins,
		TrustedProxies:  cfg.TrustedProxies,
		SeparateMetrics: cfg.MetricsAddr != "",
		Logger:          logger,
		Routes:          a.withInteractions(a.routes()),
		APIRoutes:       api.Routes(),
	})
	return a, nil
}

// routes are the handlers beside /query: the approval page, and the
// playground and the schema's SDL where the configuration serves them.
func (a *App) routes() map[string]http.Handler {
	routes := approvalpage.New(approvalpage.Options{Approvals: a.Approvals, Logger: a.Logger, Now: a.Config.Now}).Routes()
	tools := playground.Options{Playground: a.Config.Playground}
	if a.Config.Introspection {
		tools.SDL = graph.SDL()
	}
	for pattern, h := range playground.Routes(tools) {
		routes[pattern] = h
	}
	return routes
}

// startSlack builds the Slack channel, webhook endpoint and callback
// services (callbacks also given to the approval service) and
// starts the dispatcher, which fans out every committed event to its
// deliveries.
func (a *App) startSlack(ctx context.Context, authz *project.Authorizer) (*slack.Service, *webhook.Service, *webhook.Callbacks, *notify.Dispatcher, error) {
	keys, err := slack.ParseKeyring(a.Config.EncryptionKey, a.Config.OldEncryptionKeys)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	validator := slack.Validator{Prefixes: a.Config.SlackWebhookPrefixes}
	client := slack.NewClient(validator, slack.WithTimeout(a.Config.Delivery.HTTPTimeout), slack.WithResolver(a.Config.Delivery.Resolver))
	channels := slack.NewService(a.Store, authz, keys, validator, client)
	deadlines := notify.Jobs{Queue: approval.DeadlineQueue, MaxWorkers: 1,
		Register: func(w *river.Workers) error { return a.Approvals.AddDeadlineWorker(w, a.Logger) },
		Periodic: []*river.PeriodicJob{a.Approvals.DeadlineSweeps()}}
	policy := webhook.Policy{Prefixes: a.Config.WebhookAllowedPrefixes}
	endpoints := webhook.NewService(a.Store, authz, keys, policy,
		slack.NewClient(policy, slack.WithTimeout(a.Config.Delivery.HTTPTimeout), slack.WithResolver(a.Config.Delivery.Resolver)))
	callbacks := webhook.NewCallbacks(a.Store, authz, keys, policy)
	a.Approvals.UseCallbacks(callbacks)
	dispatcher, err := notify.Start(ctx, notify.Options{
		Store: a.Store, Channels: channels, Endpoints: endpoints, Callbacks: callbacks, Authz: authz, Client: client, Settings: a.Config.Delivery, Logger: a.Logger, Metrics: a.Metrics,
		Jobs: []notify.Jobs{deadlines},
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a.closers = append(a.closers, dispatcher.Stop)
	a.Recorder.OnCommit(dispatcher.Committed)
	a.Metrics.WatchQueue(dispatcher.QueueDepth, a.Logger)
	return channels, endpoints, callbacks, dispatcher, nil
}

// Handler is the root HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// MetricsHandler serves /metrics on OTTR_METRICS_ADDR; Handler does not
// serve it then.
func (a *App) MetricsHandler() http.Handler { return httpserver.MetricsHandler(a.Metrics) }

// Drain answers the requests that wait (REST long-polls) at once, for a
// shutdown (http.Server.RegisterOnShutdown).
func (a *App) Drain() { a.drain() }

func (a *App) ready(ctx context.Context) error {
	if err := a.Store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	pending, err := a.Store.MigrationsPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("database migrations pending")
	}
	return nil
}

// StopLive ends every subscription with SHUTTING_DOWN and waits, until
// ctx ends, for the websocket connections to close (with 1001) and the SSE
// streams to end. The server calls it as it begins to stop, beside
// http.Server.Shutdown, which waits for neither.
func (a *App) StopLive(ctx context.Context) error {
	if err := a.Feed.Close(); err != nil {
		return err
	}
	return a.Live.Wait(ctx)
}

// Close stops background work and closes the database. The work that
// requests leave behind (replies to Slack clicks) stops first, so that it
// never finds the store closed; the rest stops in reverse order of start,
// the store last.
func (a *App) Close() error {
	a.closeInteractions()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// countApprovalEvent feeds a committed event to the business metrics.
// Called after commit on the instance that recorded it, so each event
// counts once however many instances hear of it.
func (a *App) countApprovalEvent(ev event.Event) {
	if ev.Type == event.ApprovalCreated {
		a.Metrics.Business.ApprovalCreated()
		return
	}
	if outcome, final := ev.Type.Outcome(); final {
		a.Metrics.Business.ApprovalDecided(outcome, ev.OccurredAt.Sub(ev.ApprovalCreatedAt), !ev.ApprovalCreatedAt.IsZero())
	}
}
