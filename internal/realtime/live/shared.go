package live

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
)

// Shared projectEvents subscriptions: subscribers whose results render the
// same (the same operation on the same project) form a group that holds ONE
// broker subscription and renders each event ONCE; every member receives
// the same encoded bytes. Each member keeps its own credentials and end
// (members with the same credentials share their rechecks: see checker),
// and its own replay. A subscription that shares with no one
// (ProjectEvents: SSE, the legacy websocket protocol, a document that
// cannot be shared) is a group of one, so this is the one replay and
// hand-off of every projectEvents subscription:
//
// The member joins the group, whose broker subscription exists before the
// member reads the table, so an event committed meanwhile is in one or the
// other; the live events are held back while it replays the events after
// its cursor; then it takes the held-back events after the last one
// replayed, and is live. The replay reads only final events (event.After),
// so a held-back event before the last one replayed was final at the
// replay's read and was replayed: skipping it loses nothing, and none is
// sent twice. The feed publishes in log order too, so a client that
// resubscribes with after set to the last ID it received misses nothing.

// Renderer renders an event as a subscriber receives it: the encoded
// result of the group's operation. Calls are serialized. ok is false when
// the event has no rendering: live, it is skipped; in a replay, the
// replay stops there, as a subscriber of its own would.
type Renderer[P any] interface {
	Render(ev *event.Event) (payload P, ok bool)
	Close()
}

// Member is the subscriber's end of a shared subscription.
type Member[P any] interface {
	// Send queues a rendered result without waiting; false means the
	// subscriber is too slow and is dropped.
	Send(payload P) bool
	// SendWait queues a rendered result, waiting for room; false means ctx
	// or the subscription ended first.
	SendWait(ctx context.Context, payload P) bool
	// End ends the subscription, once: err is nil when ctx ended (the
	// subscriber left), else why the stream failed.
	End(err error)
}

// shared holds the groups of one Subscriptions.
type shared struct {
	mu     sync.Mutex
	groups map[string]any // *group[P] by key
	solo   uint64         // numbers the keys of unshared subscriptions
}

// group is one shared rendering.
type group[P any] struct {
	s      *Subscriptions
	key    string
	filter event.Filter
	render Renderer[P]
	sub    *event.Subscription
	cancel context.CancelFunc

	refs int // members joined or joining; guarded by s.shared.mu

	renderMu sync.Mutex
	closed   bool // the renderer; guarded by renderMu

	mu       sync.Mutex
	members  map[*member[P]]struct{}
	checkers map[string]*checker[P] // by principal
	dead     bool
}

// checker rechecks, for every member of a group with the same principal
// (one API key, or one user), that the principal may still read the
// project: the answer is the same for all, so it is asked once per
// interval rather than once per member. An access token's expiry stays
// each member's own.
type checker[P any] struct {
	g       *group[P]
	id      string
	guard   *guard          // the first member's: same principal, same project
	ctx     context.Context // the first member's, without its end
	members map[*member[P]]struct{}
	timer   *time.Timer
	stopped bool // no members left; guarded by g.mu
}

// member is one subscriber of a group.
type member[P any] struct {
	g     *group[P]
	out   Member[P]
	ctx   context.Context // ends when the member ends
	stop  context.CancelFunc
	guard *guard
	after *event.Position

	// guarded by g.mu
	live    bool
	last    event.Position
	pending []pendingEvent[P]
	ended   bool

	checker *checker[P]
	expiry  *time.Timer
	stopCtx func() bool
}

type pendingEvent[P any] struct {
	pos     event.Position
	payload P
}

// ShareProjectEvents authorizes a projectEvents subscription like
// ProjectEvents, refusing it here, before anything is sent. On success,
// start joins the subscriber to the group of key (every subscriber whose
// results render the same shares it; newRenderer makes the group's
// renderer when there is none yet) and runs the stream, replaying first
// when after is set. Events reach out until ctx ends or the stream fails;
// out.End is called once either way.
func (s *Subscriptions) ShareProjectEvents(ctx context.Context, projectID string, types []event.Type, after *string,
	key string, newRenderer func() Renderer[[]byte], out Member[[]byte]) (start func(), err error) {
	g, cursor, err := s.checkProjectEvents(ctx, projectID, types, after)
	if err != nil {
		return nil, err
	}
	filter := event.Filter{ProjectID: projectID, Types: types}
	return func() { startMember(ctx, s, g, cursor, key, filter, newRenderer, out) }, nil
}

// startMember joins a subscriber, authorized by g, to the group of key
// (created with newRenderer's renderer when there is none), and starts its
// stream: replay from cursor when set, then the group's live events.
func startMember[P any](ctx context.Context, s *Subscriptions, g *guard, cursor *event.Position, key string, filter event.Filter,
	newRenderer func() Renderer[P], out Member[P]) {
	mctx, stop := context.WithCancel(ctx)
	m := &member[P]{out: out, ctx: mctx, stop: stop, guard: g, after: cursor}
	if cursor != nil {
		m.last = *cursor
	}
	join(s, m, key, filter, newRenderer)
}

// join adds m to the group of key, creating it if needed, and starts it.
func join[P any](s *Subscriptions, m *member[P], key string, filter event.Filter, newRenderer func() Renderer[P]) {
	for {
		s.shared.mu.Lock()
		g, _ := s.shared.groups[key].(*group[P])
		if g == nil {
			g = newGroup(s, key, filter, newRenderer())
			s.shared.groups[key] = g
		}
		g.refs++
		s.shared.mu.Unlock()

		g.mu.Lock()
		if g.dead { // ended meanwhile: another one
			g.mu.Unlock()
			g.release()
			continue
		}
		m.g = g
		m.live = m.after == nil
		g.members[m] = struct{}{}
		g.mu.Unlock()
		break
	}
	m.arm()
	if m.after != nil {
		go m.replay()
	}
}

func newGroup[P any](s *Subscriptions, key string, filter event.Filter, r Renderer[P]) *group[P] {
	ctx, cancel := context.WithCancel(context.Background())
	g := &group[P]{s: s, key: key, filter: filter, render: r, cancel: cancel, members: map[*member[P]]struct{}{},
		checkers: map[string]*checker[P]{}}
	g.sub = s.feed.Subscribe(ctx, filter, s.opts.Buffer)
	go g.run()
	return g
}

// release drops one reference to g; the last one ends it.
func (g *group[P]) release() {
	s := g.s
	s.shared.mu.Lock()
	g.refs--
	last := g.refs == 0
	if last && s.shared.groups[g.key] == any(g) {
		delete(s.shared.groups, g.key)
	}
	s.shared.mu.Unlock()
	if last {
		g.mu.Lock()
		g.dead = true
		g.mu.Unlock()
		g.cancel()
		g.renderMu.Lock()
		g.closed = true
		g.render.Close()
		g.renderMu.Unlock()
	}
}

// renderEvent renders ev once for everyone; ok is false once the group
// has ended, or when ev has no rendering.
func (g *group[P]) renderEvent(ev *event.Event) (payload P, ok bool) {
	g.renderMu.Lock()
	defer g.renderMu.Unlock()
	if g.closed {
		return payload, false
	}
	return g.render.Render(ev)
}

// run delivers the group's live events until the broker subscription ends:
// when the group ends, or, for every member, when the group fell behind or
// the server shuts down.
func (g *group[P]) run() {
	for {
		select {
		case ev, ok := <-g.sub.C():
			if !ok {
				if errors.Is(g.sub.Err(), event.ErrSlowSubscriber) { // the broker said why
					g.endAll(errTooSlow)
				}
				return
			}
			if payload, ok := g.renderEvent(ev); ok {
				g.deliver(ev, payload)
			}
		case <-g.s.feed.Closed():
			g.endAll(errShuttingDown)
			return
		}
	}
}

func (g *group[P]) deliver(ev *event.Event, payload P) {
	var ended []*member[P]
	g.mu.Lock()
	for m := range g.members {
		switch {
		case !m.live:
			if len(m.pending) >= g.s.buffer() {
				ended = append(ended, m)
				continue
			}
			m.pending = append(m.pending, pendingEvent[P]{pos: ev.Position(), payload: payload})
		case !m.last.Before(ev.Position()):
		default:
			m.last = ev.Position()
			if !m.out.Send(payload) {
				ended = append(ended, m)
			}
		}
	}
	g.mu.Unlock()
	for _, m := range ended {
		m.end(errTooSlow)
	}
	if len(ended) > 0 {
		g.s.feed.log.Warn("dropped slow event subscribers",
			"project_id", ev.ProjectID, "event_id", ev.ID, "dropped", len(ended), "shared", true)
	}
}

// endAll ends every member, and the group with its last one.
func (g *group[P]) endAll(err error) {
	g.s.shared.mu.Lock()
	if g.s.shared.groups[g.key] == any(g) {
		delete(g.s.shared.groups, g.key) // no one joins any more
	}
	g.s.shared.mu.Unlock()
	g.mu.Lock()
	g.dead = true
	members := make([]*member[P], 0, len(g.members))
	for m := range g.members {
		members = append(members, m)
	}
	g.mu.Unlock()
	for _, m := range members {
		m.end(err)
	}
}

func (s *Subscriptions) buffer() int {
	if s.opts.Buffer > 0 {
		return s.opts.Buffer
	}
	return event.DefaultBuffer
}

// arm starts the member's checks: on timers, with no goroutine of their
// own.
func (m *member[P]) arm() {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.ended {
		return
	}
	m.stopCtx = context.AfterFunc(m.ctx, func() { m.end(nil) })
	id := principalID(m.guard.principal)
	ch := g.checkers[id]
	if ch == nil {
		ch = &checker[P]{g: g, id: id, guard: m.guard, ctx: context.WithoutCancel(m.ctx), members: map[*member[P]]struct{}{}}
		ch.timer = time.AfterFunc(g.s.jitter(), ch.recheck)
		g.checkers[id] = ch
	}
	ch.members[m] = struct{}{}
	m.checker = ch
	if exp := m.guard.principal.ExpiresAt; !exp.IsZero() {
		m.expiry = time.AfterFunc(time.Until(exp), func() { m.end(errTokenExpired) })
	}
}

// principalID names whom a check is about.
func principalID(p *auth.Principal) string {
	if k := p.APIKey; k != nil {
		return "key " + k.ID
	}
	return "user " + p.UserID
}

// recheck asks again for every member of the checker; a refusal ends them
// all.
func (ch *checker[P]) recheck() {
	err := ch.guard.check(ch.ctx)
	g := ch.g
	g.mu.Lock()
	if ch.stopped {
		g.mu.Unlock()
		return
	}
	if err == nil {
		ch.timer.Reset(g.s.jitter())
		g.mu.Unlock()
		return
	}
	members := make([]*member[P], 0, len(ch.members))
	for m := range ch.members {
		members = append(members, m)
	}
	g.mu.Unlock()
	for _, m := range members {
		m.end(err)
	}
}

// replay sends the events after the member's cursor, then the live events
// held back meanwhile, and makes the member live.
func (m *member[P]) replay() {
	g := m.g
	last := *m.after
	for {
		events, err := event.After(m.ctx, g.s.store, g.filter.ProjectID, last, g.filter.Types, replayPage)
		if err != nil {
			if m.ctx.Err() == nil {
				m.end(err)
			}
			return
		}
		for i := range events {
			payload, ok := g.renderEvent(&events[i])
			if !ok || !m.out.SendWait(m.ctx, payload) {
				return
			}
			last = events[i].Position()
		}
		if len(events) < replayPage {
			break
		}
	}
	for {
		g.mu.Lock()
		if m.ended {
			g.mu.Unlock()
			return
		}
		held := m.pending
		m.pending = nil
		if len(held) == 0 {
			m.live, m.last = true, last
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		for _, p := range held {
			if !last.Before(p.pos) {
				continue
			}
			if !m.out.SendWait(m.ctx, p.payload) {
				return
			}
			last = p.pos
		}
	}
}

// end ends the member, once: it leaves the group, its checks stop, and
// its subscriber learns why.
func (m *member[P]) end(err error) {
	g := m.g
	g.mu.Lock()
	if m.ended {
		g.mu.Unlock()
		return
	}
	m.ended = true
	delete(g.members, m)
	m.pending = nil
	if ch := m.checker; ch != nil {
		delete(ch.members, m)
		if len(ch.members) == 0 {
			ch.stopped = true
			ch.timer.Stop()
			delete(g.checkers, ch.id)
		}
	}
	if m.expiry != nil {
		m.expiry.Stop()
	}
	stopCtx := m.stopCtx
	g.mu.Unlock()
	if stopCtx != nil {
		stopCtx()
	}
	m.stop()
	m.out.End(err)
	g.release()
}

// soloKey names the group of a subscription that shares with no one.
func (sh *shared) soloKey() string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.solo++
	return "\x00solo " + strconv.FormatUint(sh.solo, 10)
}

// asIs renders an event as the event itself, for a subscriber that
// renders its own results.
type asIs struct{}

func (asIs) Render(ev *event.Event) (event.Event, bool) { return *ev, true }
func (asIs) Close()                                     {}

// queue is a Member whose results a Stream takes one at a time (drain): a
// buffer of the subscriber's size between the group and the consumer.
type queue[P any] struct {
	ch   chan P
	done chan struct{}
	once sync.Once
	err  error
}

func newQueue[P any](size int) *queue[P] {
	return &queue[P]{ch: make(chan P, size), done: make(chan struct{})}
}

func (q *queue[P]) Send(p P) bool {
	select {
	case q.ch <- p:
		return true
	default:
		return false
	}
}

func (q *queue[P]) SendWait(ctx context.Context, p P) bool {
	select {
	case q.ch <- p:
		return true
	case <-q.done:
		return false
	case <-ctx.Done():
		return false
	}
}

func (q *queue[P]) End(err error) { q.once.Do(func() { q.err = err; close(q.done) }) }

// drain passes the queued results to send until the member ends (then the
// results queued before its end, and its error), ctx ends, or send
// reports that the subscriber has gone.
func (q *queue[P]) drain(ctx context.Context, send func(P) bool) error {
	for {
		select {
		case p := <-q.ch:
			if !send(p) {
				return nil
			}
		case <-q.done:
			for {
				select {
				case p := <-q.ch:
					if !send(p) {
						return nil
					}
				default:
					return q.err
				}
			}
		case <-ctx.Done():
			return nil
		}
	}
}
