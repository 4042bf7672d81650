package live

import (
	"context"
	"errors"
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
// and its own replay: it joins the group (and so receives the live
// events from then on, held back while it replays), replays the events
// after its cursor from the table, then takes the held-back live events
// after the last one replayed. The hand-off is the one
// ProjectEvents makes: no gap, no duplicate.

// Renderer renders an event as a subscriber receives it: the encoded
// result of the group's operation. Calls are serialized.
type Renderer interface {
	Render(ev *event.Event) []byte
	Close()
}

// Member is the subscriber's end of a shared subscription.
type Member interface {
	// Send queues a rendered result without waiting; false means the
	// subscriber is too slow and is dropped.
	Send(payload []byte) bool
	// SendWait queues a rendered result, waiting for room; false means ctx
	// or the subscription ended first.
	SendWait(ctx context.Context, payload []byte) bool
	// End ends the subscription, once: err is nil when ctx ended (the
	// subscriber left), else why the stream failed.
	End(err error)
}

// shared holds the groups of one Subscriptions.
type shared struct {
	mu     sync.Mutex
	groups map[string]*group
}

// group is one shared rendering.
type group struct {
	s      *Subscriptions
	key    string
	filter event.Filter
	render Renderer
	sub    *event.Subscription
	cancel context.CancelFunc

	refs int // members joined or joining; guarded by s.shared.mu

	renderMu sync.Mutex
	closed   bool // the renderer; guarded by renderMu

	mu       sync.Mutex
	members  map[*member]struct{}
	checkers map[string]*checker // by principal
	dead     bool
}

// checker rechecks, for every member of a group with the same principal
// (one API key, or one user), that the principal may still read the
// project: the answer is the same for all, so it is asked once per
// interval rather than once per member. An access token's expiry stays
// each member's own.
type checker struct {
	g       *group
	id      string
	guard   *guard          // the first member's: same principal, same project
	ctx     context.Context // the first member's, without its end
	members map[*member]struct{}
	timer   *time.Timer
	stopped bool // no members left; guarded by g.mu
}

// member is one subscriber of a group.
type member struct {
	g     *group
	out   Member
	ctx   context.Context // ends when the member ends
	stop  context.CancelFunc
	guard *guard
	after *event.Position

	// guarded by g.mu
	live    bool
	last    event.Position
	pending []pendingEvent
	ended   bool

	checker *checker
	expiry  *time.Timer
	stopCtx func() bool
}

type pendingEvent struct {
	pos     event.Position
	payload []byte
}

// ShareProjectEvents authorizes a projectEvents subscription like
// ProjectEvents, refusing it here, before anything is sent. On success,
// start joins the subscriber to the group of key (every subscriber whose
// results render the same shares it; newRenderer makes the group's
// renderer when there is none yet) and runs the stream, replaying first
// when after is set. Events reach out until ctx ends or the stream fails;
// out.End is called once either way.
func (s *Subscriptions) ShareProjectEvents(ctx context.Context, projectID string, types []event.Type, after *string,
	key string, newRenderer func() Renderer, out Member) (start func(), err error) {
	g, cursor, err := s.checkProjectEvents(ctx, projectID, types, after)
	if err != nil {
		return nil, err
	}
	filter := event.Filter{ProjectID: projectID, Types: types}
	return func() {
		mctx, stop := context.WithCancel(ctx)
		m := &member{out: out, ctx: mctx, stop: stop, guard: g, after: cursor}
		if cursor != nil {
			m.last = *cursor
		}
		s.join(m, key, filter, newRenderer)
	}, nil
}

// join adds m to the group of key, creating it if needed, and starts it.
func (s *Subscriptions) join(m *member, key string, filter event.Filter, newRenderer func() Renderer) {
	for {
		s.shared.mu.Lock()
		g := s.shared.groups[key]
		if g == nil {
			g = s.newGroup(key, filter, newRenderer())
			s.shared.groups[key] = g
		}
		g.refs++
		s.shared.mu.Unlock()

		g.mu.Lock()
		if g.dead { // ended meanwhile: another one
			g.mu.Unlock()
			s.release(g)
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

func (s *Subscriptions) newGroup(key string, filter event.Filter, r Renderer) *group {
	ctx, cancel := context.WithCancel(context.Background())
	g := &group{s: s, key: key, filter: filter, render: r, cancel: cancel, members: map[*member]struct{}{},
		checkers: map[string]*checker{}}
	g.sub = s.feed.Subscribe(ctx, filter, s.opts.Buffer)
	go g.run()
	return g
}

// release drops one reference to g; the last one ends it.
func (s *Subscriptions) release(g *group) {
	s.shared.mu.Lock()
	g.refs--
	last := g.refs == 0
	if last && s.shared.groups[g.key] == g {
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

// renderEvent renders ev once for everyone.
func (g *group) renderEvent(ev *event.Event) []byte {
	g.renderMu.Lock()
	defer g.renderMu.Unlock()
	if g.closed {
		return nil
	}
	return g.render.Render(ev)
}

// run delivers the group's live events until the broker subscription ends:
// when the group ends, or, for every member, when the group fell behind or
// the server shuts down.
func (g *group) run() {
	for {
		select {
		case ev, ok := <-g.sub.C():
			if !ok {
				if errors.Is(g.sub.Err(), event.ErrSlowSubscriber) { // the broker said why
					g.endAll(errTooSlow)
				}
				return
			}
			if payload := g.renderEvent(ev); payload != nil {
				g.deliver(ev, payload)
			}
		case <-g.s.feed.Closed():
			g.endAll(errShuttingDown)
			return
		}
	}
}

func (g *group) deliver(ev *event.Event, payload []byte) {
	var ended []*member
	g.mu.Lock()
	for m := range g.members {
		switch {
		case !m.live:
			if len(m.pending) >= g.s.buffer() {
				ended = append(ended, m)
				continue
			}
			m.pending = append(m.pending, pendingEvent{pos: ev.Position(), payload: payload})
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
func (g *group) endAll(err error) {
	g.s.shared.mu.Lock()
	if g.s.shared.groups[g.key] == g {
		delete(g.s.shared.groups, g.key) // no one joins any more
	}
	g.s.shared.mu.Unlock()
	g.mu.Lock()
	g.dead = true
	members := make([]*member, 0, len(g.members))
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
func (m *member) arm() {
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
		ch = &checker{g: g, id: id, guard: m.guard, ctx: context.WithoutCancel(m.ctx), members: map[*member]struct{}{}}
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
func (ch *checker) recheck() {
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
	members := make([]*member, 0, len(ch.members))
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
func (m *member) replay() {
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
			payload := g.renderEvent(&events[i])
			if payload == nil || !m.out.SendWait(m.ctx, payload) {
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
func (m *member) end(err error) {
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
	g.s.release(g)
}
