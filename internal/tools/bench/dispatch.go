package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
)

const (
	// DefaultDispatchRate is the dispatch scenario's events per second
	// unless -rate says otherwise.
	DefaultDispatchRate = 60
	// DefaultChannels is how many Slack channels each project has.
	DefaultChannels = 10
	// dispatchDrainWait is how long the dispatch waits, after the last
	// event, for the deliveries still on their way.
	dispatchDrainWait = 15 * time.Second
	// notifyChannel is the baseline's LISTEN/NOTIFY channel.
	notifyChannel = "ottr_bench_dispatch"
)

// runDispatch: APPROVAL_CREATED events committed at a constant rate, each
// delivered by the server's dispatcher to every channel of its project,
// at a fake Slack in this process that answers 200 "ok" at once, against
// PostgreSQL's LISTEN/NOTIFY carrying as many messages a second. The
// events go round-robin to enough projects that a channel gets at most
// one message every two seconds, so the per-channel limit of one a second
// never holds a delivery back. Ours runs from the moment the committer has
// its commit confirmed (the createApproval response) to the message's
// arrival at Slack; the baseline is a NOTIFY's round trip, from sending
// it (in its own transaction) to the listener's receiving it.
func runDispatch(ctx context.Context, e *env, r *Report) error {
	rate, channels := e.opts.rate, e.opts.channels
	if rate <= 0 {
		rate = DefaultDispatchRate
	}
	projects := int(math.Ceil(2 * rate))
	r.Concurrency, r.Rate = projects*channels, rate
	srv, fake, ps, err := e.setUpSlack(ctx, projects, channels)
	if err != nil {
		return err
	}
	clients := make([]*gqlClient, projects)
	for i, p := range ps {
		clients[i] = newGQLClient(srv.url, p.WriteKey, 2)
		defer clients[i].close()
	}
	listener, err := e.listen(ctx)
	if err != nil {
		return err
	}
	pool, err := e.openDirect(ctx, e.opts.concurrency)
	if err != nil {
		return err
	}
	var seq atomic.Int64
	ours := dispatchSide{name: "ours", proc: srv.proc, arrivals: fake.arrivals, perEvent: channels,
		send: func(ctx context.Context) (int64, error) {
			n := seq.Add(1)
			p := int(n) % projects
			body := request(createMutation, map[string]any{"p": ps[p].ID, "i": approvalInput(dispatchKeyPath(n))})
			return n, clients[p].do(ctx, body, nil)
		}}
	baseline := dispatchSide{name: "baseline", arrivals: listener.arrivals, perEvent: 1, rateFactor: channels, fromSend: true,
		send: func(ctx context.Context) (int64, error) {
			n := seq.Add(1)
			_, err := pool.db().exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(n, 10))
			return n, err
		}}
	for i := range e.opts.rounds {
		order := []*dispatchSide{&ours, &baseline}
		if i%2 == 1 {
			order = []*dispatchSide{&baseline, &ours}
		}
		got := map[string]Side{}
		for _, s := range order {
			if ctx.Err() != nil {
				break
			}
			m, err := s.measure(ctx, e, rate)
			if err != nil {
				return err
			}
			got[s.name] = m
		}
		o, ok := got["ours"]
		if !ok {
			break
		}
		rd := Round{Ours: o}
		if b, ok := got["baseline"]; ok {
			rd.Baseline = &b
		}
		r.Rounds = append(r.Rounds, rd)
	}
	if e.opts.ordering != "" {
		r.Notes = append(r.Notes, "every channel's ordering: "+e.opts.ordering)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%g events/s round-robin over %d projects of %d channels (%g deliveries/s offered, "+
		"at most one every %.1f s per channel); ops are deliveries; the baseline sends as many NOTIFYs a second, each in its own transaction",
		rate, projects, channels, rate*float64(channels), float64(projects)/rate))
	return nil
}

// dispatchSide is one side of the dispatch scenario.
type dispatchSide struct {
	name string
	proc *proc
	// send commits one event (or notification) and returns its number.
	send func(ctx context.Context) (int64, error)
	// arrivals records when each message arrived, by number.
	arrivals *arrivals
	// perEvent is how many messages one send brings.
	perEvent int
	// rateFactor multiplies the rate of sends (the baseline sends one
	// notification per delivery).
	rateFactor int
	// fromSend times a message from before its send (a NOTIFY's round
	// trip) instead of from the confirmed commit.
	fromSend bool
	// measured, when set, gets each measured phase's events, by number,
	// and its messages' latencies, once the phase has ended.
	measured func(events []int64, lat []time.Duration)
}

// measure warms up, then sends at rate for -d and waits for the messages.
// With -profile, ours is profiled from the start of the measured phase to
// the last message's arrival.
func (s *dispatchSide) measure(ctx context.Context, e *env, rate float64) (Side, error) {
	rate *= float64(max(s.rateFactor, 1))
	var (
		mu        sync.Mutex
		committed = map[int64]time.Time{}
		measuring atomic.Bool
	)
	send := func(ctx context.Context) error {
		sent := time.Now()
		n, err := s.send(ctx)
		if err == nil && measuring.Load() {
			if !s.fromSend {
				sent = time.Now()
			}
			mu.Lock()
			committed[n] = sent
			mu.Unlock()
		}
		return err
	}
	publishAt(ctx, rate, e.opts.warmup, send, func(time.Duration, int64) {})
	var before, after usage
	if s.proc != nil {
		_ = s.proc.resetPeak()
		before, _ = s.proc.read()
	}
	s.arrivals.reset()
	stopProfile, err := e.startProfile("dispatch", s.name, s.proc != nil)
	if err != nil {
		return Side{}, err
	}
	measuring.Store(true)
	start := time.Now()
	pub := publishAt(ctx, rate, e.opts.duration, send, func(elapsed time.Duration, ok int64) {
		if e.opts.progress != nil {
			fmt.Fprintf(e.opts.progress, "%-22s %5.0fs/%.0fs  %8d sent  %10d arrived\n", "dispatch "+s.name,
				elapsed.Seconds(), e.opts.duration.Seconds(), ok, s.arrivals.count())
		}
	})
	measuring.Store(false)
	want := int(pub.ok) * s.perEvent
	for deadline := time.Now().Add(dispatchDrainWait); s.arrivals.countOf(committed, &mu) < want && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if err := stopProfile(); err != nil {
		return Side{}, err
	}
	if s.proc != nil {
		after, _ = s.proc.read()
	}
	mu.Lock()
	lat, early := s.arrivals.latencies(committed)
	events := slices.Collect(maps.Keys(committed))
	mu.Unlock()
	if s.measured != nil {
		s.measured(events, lat)
	}
	p := &phase{Ops: int64(len(lat)), Elapsed: elapsed, latencies: lat, Errors: pub.failed, ErrorSamples: pub.samples}
	if ctx.Err() != nil {
		p.Cut = "interrupted"
	}
	out := side(s.name, p, s.proc, before, after)
	out.Extra = map[string]float64{"sent": float64(pub.ok), "missing": float64(want - len(lat)),
		"arrivedBeforeCommitConfirmed": float64(early)}
	return out, nil
}

// arrivals are the times messages arrived, by the number of the event
// they carry.
type arrivals struct {
	mu sync.Mutex
	at map[int64][]time.Time
	n  int
}

func newArrivals() *arrivals { return &arrivals{at: map[int64][]time.Time{}} }

func (a *arrivals) add(n int64, at time.Time) {
	a.mu.Lock()
	a.at[n] = append(a.at[n], at)
	a.n++
	a.mu.Unlock()
}

func (a *arrivals) reset() {
	a.mu.Lock()
	a.at, a.n = map[int64][]time.Time{}, 0
	a.mu.Unlock()
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// countOf counts the arrivals of the committed events.
func (a *arrivals) countOf(committed map[int64]time.Time, mu *sync.Mutex) int {
	mu.Lock()
	defer mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for id := range committed {
		n += len(a.at[id])
	}
	return n
}

// latencies are the arrivals of the committed events, from their commit;
// one that arrived before its commit was confirmed counts as 0 and in
// early.
func (a *arrivals) latencies(committed map[int64]time.Time) (lat []time.Duration, early int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, at := range committed {
		for _, t := range a.at[id] {
			d := t.Sub(at)
			if d < 0 {
				d, early = 0, early+1
			}
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	return lat, early
}

// fakeSlack is an incoming-webhook endpoint that answers 200 "ok" at once
// and records when each event's message arrived.
type fakeSlack struct {
	url      string
	arrivals *arrivals
}

var dispatchKey = regexp.MustCompile(`bench/dispatch/(\d+)`)

// dispatchKeyPath is the key path of event n's approval, which its
// messages carry.
func dispatchKeyPath(n int64) string { return "bench/dispatch/" + strconv.FormatInt(n, 10) }

func startFakeSlack() (*fakeSlack, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("fake Slack: %w", err)
	}
	f := &fakeSlack{url: "http://" + ln.Addr().String(), arrivals: newArrivals()}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		if m := dispatchKey.FindSubmatch(body); m != nil {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			f.arrivals.add(n, at)
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	return f, srv.Close, nil
}

// prefix is the webhook URL prefix the server must allow for the fake.
func (f *fakeSlack) prefix() string { return f.url + "/services/" }

// setUpSlack starts a fake Slack and the server under test, allowed to
// post to it, and makes projects (each with a WRITE key) of channels
// Slack channels each, selecting every event type, all posting to the
// fake. With no channels there is no fake, and the server may be one
// that runs already (-url).
func (e *env) setUpSlack(ctx context.Context, projects, channels int) (*server, *fakeSlack, []*project, error) {
	var fake *fakeSlack
	if channels > 0 {
		if e.opts.url != "" {
			return nil, nil, nil, errors.New("Slack channels need a server this tool starts, allowed to post to its fake Slack: drop -url")
		}
		var stop func() error
		var err error
		if fake, stop, err = startFakeSlack(); err != nil {
			return nil, nil, nil, err
		}
		e.closers = append(e.closers, stop)
		e.extraEnv = map[string]string{"OTTR_SLACK_WEBHOOK_PREFIXES": slackPrefix + "," + fake.prefix()}
	}
	srv, err := e.startOurs(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	user, err := signUp(ctx, srv.url)
	if err != nil {
		return nil, nil, nil, err
	}
	defer user.close()
	ps := make([]*project, projects)
	var next atomic.Int64
	err = parallel(ctx, projects, 8, func(ctx context.Context) error {
		i := int(next.Add(1) - 1)
		p, err := user.newProject(ctx)
		if err != nil {
			return err
		}
		ps[i] = p
		for c := range channels {
			var out struct{ AddSlackChannel struct{ ID string } }
			err := user.do(ctx, request(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
				map[string]any{"p": p.ID, "i": e.withOrdering(map[string]any{"name": fmt.Sprintf("bench-%d", c), "events": allEventTypes(),
					"webhookUrl": fmt.Sprintf("%sT%d/B%d/bench", fake.prefix(), i, c)})}), &out)
			if err != nil {
				return fmt.Errorf("add a Slack channel: %w", err)
			}
			p.Channels = append(p.Channels, out.AddSlackChannel.ID)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("set up %d projects of %d Slack channels: %w", projects, channels, err)
	}
	return srv, fake, ps, nil
}

// slackPrefix is Slack's own webhook prefix, allowed beside the fake
// Slack's as in production.
const slackPrefix = "https://hooks.slack.com/services/"

func allEventTypes() []string {
	types := make([]string, len(event.AllTypes))
	for i, t := range event.AllTypes {
		types[i] = string(t)
	}
	return types
}

// notifyListener is the baseline's receiving end: a connection that
// LISTENs and records when each notification arrives.
type notifyListener struct{ arrivals *arrivals }

func (e *env) listen(ctx context.Context) (*notifyListener, error) {
	if e.dialect != store.Postgres {
		return nil, errors.New("the dispatch baseline is PostgreSQL's LISTEN/NOTIFY")
	}
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return nil, fmt.Errorf("baseline listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("baseline listener: %w", err)
	}
	l := &notifyListener{arrivals: newArrivals()}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(runCtx)
			if err != nil {
				return
			}
			at := time.Now()
			id, _ := strconv.ParseInt(n.Payload, 10, 64)
			l.arrivals.add(id, at)
		}
	}()
	e.closers = append(e.closers, func() error {
		stop()
		<-done
		return conn.Close(context.Background())
	})
	return l, nil
}

// withOrdering adds -ordering to a channel's or endpoint's input.
func (e *env) withOrdering(input map[string]any) map[string]any {
	if e.opts.ordering != "" {
		input["ordering"] = e.opts.ordering
	}
	return input
}
