package live

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// DefaultRecheck is how often a running subscription rechecks its
// credentials by default: how long a revoked key or a removed member may
// keep receiving events.
const DefaultRecheck = 10 * time.Second

// replayPage is how many events one replay query reads.
const replayPage = 500

// Stream is an authorized subscription, ready to run: it calls send with
// each value in order until ctx ends or send returns false (both return
// nil), or until the stream fails. It fails with a domain error when the
// credentials stop being valid, when the subscriber fell too far behind,
// or when the server shuts down.
type Stream[T any] func(ctx context.Context, send func(T) bool) error

// Options configures Subscriptions.
type Options struct {
	// Recheck is the interval of credential rechecks; 0 means
	// DefaultRecheck.
	Recheck time.Duration
	// Buffer is how many events a subscriber may fall behind; 0 means the
	// broker's default.
	Buffer int
}

// Subscriptions opens the live streams of the API.
type Subscriptions struct {
	feed      *Feed
	store     *store.Store
	authz     *project.Authorizer
	keys      *auth.Service
	approvals *approval.Service
	opts      Options
	shared    shared
}

// Services are the domain services subscriptions read through.
type Services struct {
	Authz     *project.Authorizer
	Keys      *auth.Service
	Approvals *approval.Service
}

// NewSubscriptions returns the subscriptions served from feed.
func NewSubscriptions(feed *Feed, st *store.Store, svc Services, opts Options) *Subscriptions {
	if opts.Recheck <= 0 {
		opts.Recheck = DefaultRecheck
	}
	return &Subscriptions{feed: feed, store: st, authz: svc.Authz, keys: svc.Keys, approvals: svc.Approvals, opts: opts,
		shared: shared{groups: map[string]any{}}}
}

var (
	errTooSlow = &apperr.Error{Code: apperr.CodeRateLimited, RetryAfter: time.Second,
		Message: "this subscription fell behind the events and was ended; subscribe again with after set to the last event ID received"}
	errShuttingDown = &apperr.Error{Code: apperr.CodeShuttingDown,
		Message: "the server is shutting down; subscribe again with after set to the last event ID received"}
	errKeyRevoked   = apperr.Unauthenticated("API key revoked")
	errTokenExpired = apperr.Unauthenticated("access token expired")
)

// TokenExpired reports whether err ended a subscription because the
// subscriber's access token expired.
func TokenExpired(err error) bool { return errors.Is(err, errTokenExpired) }

// ProjectEvents opens the stream of a project's events of the given types
// (all when empty). With after (an event ID) it first replays the events
// recorded after it, oldest first; then each event follows as it commits.
// The caller must be allowed to read the project, and is refused here,
// before anything is sent.
//
// It is a subscription that shares with no one: a group of one (see
// shared.go), with the same replay and hand-off as every subscription.
func (s *Subscriptions) ProjectEvents(ctx context.Context, projectID string, types []event.Type, after *string) (Stream[event.Event], error) {
	g, cursor, err := s.checkProjectEvents(ctx, projectID, types, after)
	if err != nil {
		return nil, err
	}
	filter := event.Filter{ProjectID: projectID, Types: types}
	return func(ctx context.Context, send func(event.Event) bool) error {
		// A group of one: the same replay, hand-off and checks as a
		// shared subscription, with the event itself as the rendering.
		q := newQueue[event.Event](s.buffer())
		mctx, leave := context.WithCancel(ctx)
		defer leave()
		startMember(mctx, s, g, cursor, s.shared.soloKey(), filter, func() Renderer[event.Event] { return asIs{} }, Member[event.Event](q))
		return q.drain(mctx, send)
	}, nil
}

// checkProjectEvents authorizes a projectEvents subscription and checks its
// arguments; it returns the guard and the cursor (nil without after): the
// position of the event after names, which must be the project's ("0":
// the start of the log).
func (s *Subscriptions) checkProjectEvents(ctx context.Context, projectID string, types []event.Type, after *string) (*guard, *event.Position, error) {
	g, err := s.authorize(ctx, projectID)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range types {
		if !t.Valid() {
			return nil, nil, apperr.Invalid("types", "unknown event type %q", t)
		}
	}
	if after == nil {
		return g, nil, nil
	}
	id, err := strconv.ParseInt(*after, 10, 64)
	if err != nil || id < 0 {
		return nil, nil, apperr.Invalid("after", "after must be an event ID")
	}
	if id == 0 {
		return g, &event.Position{}, nil
	}
	pos, found, err := event.PositionOf(ctx, s.store, projectID, id)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, apperr.Invalid("after", "after must be the ID of an event of this project, or 0")
	}
	return g, &pos, nil
}

// guard keeps checking, while a stream runs, that its subscriber may still
// read the project.
type guard struct {
	s         *Subscriptions
	projectID string
	principal *auth.Principal

	recheck *time.Timer
	expiry  *time.Timer      // nil for API keys
	expired <-chan time.Time // expiry's channel; nil (never ready) for API keys
}

// authorize checks that the caller may read the project and returns the
// guard that keeps checking it once started.
func (s *Subscriptions) authorize(ctx context.Context, projectID string) (*guard, error) {
	access, err := s.authz.Authorize(ctx, projectID, project.Read)
	if err != nil {
		return nil, err
	}
	return &guard{s: s, projectID: projectID, principal: access.Principal}, nil
}

// start arms the guard's timers; stop disarms them.
func (g *guard) start() {
	g.recheck = time.NewTimer(g.s.jitter())
	if exp := g.principal.ExpiresAt; !exp.IsZero() {
		g.expiry = time.NewTimer(time.Until(exp))
		g.expired = g.expiry.C
	}
}

func (g *guard) stop() {
	g.recheck.Stop()
	if g.expiry != nil {
		g.expiry.Stop()
	}
}

// jitter spreads the rechecks of many subscriptions over the interval.
func (s *Subscriptions) jitter() time.Duration {
	d := s.opts.Recheck
	return d/2 + rand.N(d/2+1)
}

func (g *guard) recheckNow(ctx context.Context) error {
	if err := g.check(ctx); err != nil {
		return err
	}
	g.recheck.Reset(g.s.jitter())
	return nil
}

// watch passes each live event to handle, and nil when wake fires (nil:
// never), until handle reports the end (more false, or an error), ctx ends,
// or the subscription fails.
func (g *guard) watch(ctx context.Context, sub *event.Subscription, wake <-chan time.Time, handle func(*event.Event) (more bool, err error)) error {
	for {
		more, err := true, error(nil)
		select {
		case ev, ok := <-sub.C():
			if !ok {
				if errors.Is(sub.Err(), event.ErrSlowSubscriber) {
					return errTooSlow
				}
				return nil // ctx ended
			}
			more, err = handle(ev)
		case <-wake:
			more, err = handle(nil)
		case <-g.recheck.C:
			if err := g.recheckNow(ctx); err != nil {
				return err
			}
		case <-g.expired:
			return errTokenExpired
		case <-g.s.feed.Closed():
			return errShuttingDown
		case <-ctx.Done():
			return nil
		}
		if err != nil || !more {
			return err
		}
	}
}

// check asks again whether the principal may read the project. A failure
// to ask (the database is unreachable) keeps the subscription: events are
// not flowing either, and the next check asks again.
func (g *guard) check(ctx context.Context) error {
	if k := g.principal.APIKey; k != nil {
		active, err := g.s.keys.KeyActive(ctx, k.ID)
		if err != nil {
			g.s.feed.log.WarnContext(ctx, "could not recheck a subscriber's API key", "key_id", k.ID, "err", err)
			return nil
		}
		if !active {
			return errKeyRevoked
		}
	}
	_, err := g.s.authz.Authorize(ctx, g.projectID, project.Read)
	if _, ok := apperr.As(err); ok || err == nil {
		return err
	}
	g.s.feed.log.WarnContext(ctx, "could not recheck a subscriber's membership", "project_id", g.projectID, "err", err)
	return nil
}
