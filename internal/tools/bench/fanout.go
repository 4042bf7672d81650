package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ottr/backend/internal/platform/store"
)

const (
	// DefaultSubscribers and DefaultEventRate are the fan-out scenario's
	// audience and publication rate unless -subscribers and -rate say
	// otherwise.
	DefaultSubscribers = 2000
	DefaultEventRate   = 50

	// subscriptionProtocol is the websocket subprotocol both sides speak.
	subscriptionProtocol = "graphql-transport-ws"
	subscriptionQuery    = `subscription($p: ID!) { projectEvents(projectId: $p) { id type occurredAt projectId approvalId keyPath action } }`

	// drainWait is how long the fan-out waits, after the last publication,
	// for the deliveries still on their way.
	drainWait = 5 * time.Second
	// settleWait lets memory settle after connecting before it is read.
	settleWait = time.Second
)

// runFanout: subscribers projectEvents subscriptions over websockets, and
// events published at a constant rate (createApproval over HTTP), against
// a plain websocket hub broadcasting the same message (published by an
// HTTP POST). Latency runs from the event's occurredAt, which the server
// stamps when it starts the change (the hub when the POST arrives), to its
// arrival at each subscriber, on the same clock.
func runFanout(ctx context.Context, e *env, r *Report) error {
	subscribers, rate := e.opts.subscribers, e.opts.rate
	if rate <= 0 {
		rate = DefaultEventRate
	}
	r.Concurrency, r.Rate = subscribers, rate
	// Every round starts the server and the hub afresh: memory taken by
	// one round's audience is not all given back to the system, and would
	// be counted again in the next.
	for i := range e.opts.rounds {
		if ctx.Err() != nil {
			break
		}
		re := e.sub()
		rd, err := fanoutRound(ctx, re, subscribers, rate, i%2 == 1)
		err = errors.Join(err, re.close())
		if err != nil {
			return err
		}
		if rd == nil {
			break
		}
		r.Rounds = append(r.Rounds, *rd)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%d subscribers, %g events/s; ops are deliveries to one subscriber; "+
		"memory per subscriber is the serving process's resident memory after connecting them (and %s to settle), "+
		"less before, divided by their number", subscribers, rate, settleWait),
		"the subscribers run in this process, on the same cores as the server")
	return nil
}

// fanoutRound measures both sides once, the baseline first when
// baselineFirst, on a server and hub of their own.
func fanoutRound(ctx context.Context, e *env, subscribers int, rate float64, baselineFirst bool) (*Round, error) {
	srv, p, err := e.setUp(ctx)
	if err != nil {
		return nil, err
	}
	hub, err := e.startHub(ctx)
	if err != nil {
		return nil, err
	}
	write := newGQLClient(srv.url, p.WriteKey, 8)
	defer write.close()
	var seq atomic.Int64
	ours := fanSide{name: "ours", srv: srv, init: map[string]string{"Authorization": "Bearer " + p.WriteKey},
		vars: map[string]any{"p": p.ID}, publish: func(ctx context.Context) error {
			body := request(createMutation, map[string]any{"p": p.ID, "i": approvalInput(fmt.Sprintf("bench/fanout/%d", seq.Add(1)))})
			return write.do(ctx, body, nil)
		}}
	baseline := fanSide{name: "baseline", srv: hub, vars: map[string]any{"p": p.ID}, publish: func(ctx context.Context) error {
		n := seq.Add(1)
		body := fmt.Appendf(nil, `{"id":"%d","type":"APPROVAL_CREATED","projectId":%q,"approvalId":%q,"keyPath":"bench/fanout/%d","action":null}`,
			n, p.ID, store.NewID(), n)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub.url+"/publish", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("publish: HTTP %d", resp.StatusCode)
		}
		return nil
	}}
	order := []*fanSide{&ours, &baseline}
	if baselineFirst {
		order = []*fanSide{&baseline, &ours}
	}
	got := map[string]Side{}
	for _, s := range order {
		if ctx.Err() != nil {
			break
		}
		m, err := s.measure(ctx, e, subscribers, rate)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		got[s.name] = m
	}
	o, ok := got["ours"]
	if !ok {
		return nil, nil
	}
	rd := &Round{Ours: o}
	if b, ok := got["baseline"]; ok {
		rd.Baseline = &b
	}
	return rd, nil
}

// fanSide is one side of the fan-out: the server its subscribers connect
// to and how an event is published there.
type fanSide struct {
	name    string
	srv     *server
	init    map[string]string // connection_init payload
	vars    map[string]any
	publish func(ctx context.Context) error
}

// measure connects the audience, publishes at rate for -d and reports the
// deliveries.
func (s *fanSide) measure(ctx context.Context, e *env, n int, rate float64) (Side, error) {
	if s.srv.proc == nil {
		return Side{}, errors.New("the fan-out needs the serving process's memory: pass -pid with -url")
	}
	before, err := s.srv.proc.read()
	if err != nil {
		return Side{}, err
	}
	a, err := connectAudience(ctx, "ws"+strings.TrimPrefix(s.srv.url, "http")+"/query", n, s.init, s.vars)
	if err != nil {
		return Side{}, err
	}
	defer a.close()
	// A subscription misses the events published before it runs: publish
	// until every subscriber has had one.
	for deadline := time.Now().Add(time.Minute); ; {
		if err := s.publish(ctx); err != nil {
			return Side{}, fmt.Errorf("publish: %w", err)
		}
		err := a.await(ctx, 1, 500*time.Millisecond)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return Side{}, err
		}
	}
	select {
	case <-time.After(settleWait):
	case <-ctx.Done():
	}
	connected, err := s.srv.proc.read()
	if err != nil {
		return Side{}, err
	}
	_ = s.srv.proc.resetPeak()
	stopProfile, err := e.startProfile("fanout", s.name, s.name == "ours")
	if err != nil {
		return Side{}, err
	}
	a.startMeasuring()
	selfBefore := cpuOf("")
	start := time.Now()
	pub := publishAt(ctx, rate, e.opts.duration, s.publish, func(elapsed time.Duration, published int64) {
		if e.opts.progress != nil {
			fmt.Fprintf(e.opts.progress, "%-22s %5.0fs/%.0fs  %8d events  %10d deliveries  %d dropped\n", "fanout "+s.name,
				elapsed.Seconds(), e.opts.duration.Seconds(), published, a.delivered(), a.dropped.Load())
		}
	})
	// The last events are on their way; the phase ends when all have
	// arrived, or after drainWait.
	_ = a.await(ctx, pub.ok, drainWait)
	elapsed := time.Since(start)
	selfCPU := cpuOf("") - selfBefore
	if err := stopProfile(); err != nil {
		return Side{}, err
	}
	after, err := s.srv.proc.read()
	if err != nil {
		return Side{}, err
	}
	a.close() // the readers stop: their latencies can be read
	lat := a.latencies()
	p := &phase{Ops: int64(len(lat)), Elapsed: elapsed, latencies: lat, ErrorSamples: pub.samples}
	missing := pub.ok*int64(n) - int64(len(lat))
	p.Errors = pub.failed + a.dropped.Load()
	if ctx.Err() != nil {
		p.Cut = "interrupted"
	}
	out := side(s.name, p, s.srv.proc, connected, after)
	if p.Ops > 0 && !s.srv.proc.shared {
		// The subscribers' share: they run on the same cores.
		out.LoadCPUMsPerOp = perOp(selfCPU, p.Ops)
	}
	first := a.firstArrivals()
	out.Extra = map[string]float64{
		"firstArrivalP50Ms":  ms(percentile(first, 0.50)),
		"firstArrivalP99Ms":  ms(percentile(first, 0.99)),
		"memPerSubscriberKB": round(float64(connected.rss-before.rss)/float64(n)/1024, 1),
		"eventsPublished":    float64(pub.ok),
		"missingDeliveries":  float64(missing),
	}
	if a.dropped.Load() > 0 {
		cause := ""
		if c := a.dropCause.Load(); c != nil {
			cause = "; the first: " + *c
		}
		out.ErrorSamples = append(out.ErrorSamples, fmt.Sprintf("%d subscribers were disconnected%s", a.dropped.Load(), cause))
	}
	return out, nil
}

// audience is the subscribers, in this process.
type audience struct {
	conns     []*wsClient
	counts    []atomic.Int64    // events received, per subscriber
	from      []int64           // counts when the measurement started
	lat       [][]time.Duration // per subscriber, while measuring
	measuring atomic.Bool
	closing   atomic.Bool
	dropped   atomic.Int64
	dropCause atomic.Pointer[string] // why the first subscriber was dropped
	readers   sync.WaitGroup
}

// drop counts subscriber i as dropped, unless the audience is closing.
func (a *audience) drop(i int, cause string) {
	if a.closing.Load() {
		return
	}
	if a.dropped.Add(1) == 1 {
		cause = fmt.Sprintf("subscriber %d: %s", i, cause)
		a.dropCause.Store(&cause)
	}
}

// connectAudience opens n subscriptions, connecting a few at a time.
func connectAudience(ctx context.Context, url string, n int, init map[string]string, vars map[string]any) (*audience, error) {
	a := &audience{conns: make([]*wsClient, n), counts: make([]atomic.Int64, n), from: make([]int64, n),
		lat: make([][]time.Duration, n)}
	initMsg, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": init})
	subMsg, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1",
		"payload": map[string]any{"query": subscriptionQuery, "variables": vars}})
	var next atomic.Int64
	err := parallel(ctx, n, 32, func(ctx context.Context) error {
		i := int(next.Add(1) - 1)
		dialCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		conn, err := dialWS(dialCtx, url, subscriptionProtocol)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		a.conns[i] = conn
		if err := conn.writeText(initMsg); err != nil {
			return fmt.Errorf("subscriber %d: connection_init: %w", i, err)
		}
		deadline, _ := dialCtx.Deadline()
		_ = conn.conn.SetReadDeadline(deadline)
		if ack, err := conn.read(); err != nil || !bytes.Contains(ack, []byte(`"connection_ack"`)) {
			return fmt.Errorf("subscriber %d: no connection_ack (%v): %.200s", i, err, ack)
		}
		_ = conn.conn.SetReadDeadline(time.Time{})
		if err := conn.writeText(subMsg); err != nil {
			return fmt.Errorf("subscriber %d: subscribe: %w", i, err)
		}
		a.readers.Go(func() { a.read(i, conn) })
		return nil
	})
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

var (
	nextType   = []byte(`"type":"next"`)
	pingType   = []byte(`"type":"ping"`)
	pong       = []byte(`{"type":"pong"}`)
	occurredAt = []byte(`"occurredAt":"`)
)

// read receives subscriber i's messages until its connection ends.
func (a *audience) read(i int, conn *wsClient) {
	for {
		msg, err := conn.read()
		if err != nil {
			a.drop(i, err.Error())
			return
		}
		switch {
		case bytes.Contains(msg, nextType):
			now := time.Now()
			if a.measuring.Load() {
				if at, ok := eventTime(msg); ok {
					a.lat[i] = append(a.lat[i], now.Sub(at))
				}
			}
			a.counts[i].Add(1)
		case bytes.Contains(msg, pingType):
			_ = conn.writeText(pong)
		default: // error or complete: the subscription has ended
			a.drop(i, fmt.Sprintf("%.200s", msg))
			return
		}
	}
}

// eventTime is the occurredAt of an event message.
func eventTime(msg []byte) (time.Time, bool) {
	_, rest, ok := bytes.Cut(msg, occurredAt)
	if !ok {
		return time.Time{}, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	return t, err == nil
}

// startMeasuring records the events to come: await counts from here.
func (a *audience) startMeasuring() {
	for i := range a.counts {
		a.from[i] = a.counts[i].Load()
	}
	a.measuring.Store(true)
}

// await waits until every connected subscriber has received want events
// (since startMeasuring), or timeout.
func (a *audience) await(ctx context.Context, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for i := range a.counts {
			if a.counts[i].Load()-a.from[i] < want {
				behind++
			}
		}
		if behind <= int(a.dropped.Load()) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscribers had not received %d events after %s", behind, len(a.counts), want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (a *audience) delivered() int64 {
	var n int64
	for i := range a.counts {
		n += a.counts[i].Load()
	}
	return n
}

func (a *audience) latencies() []time.Duration {
	var all []time.Duration
	for _, l := range a.lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

// firstArrivals is, for each event, the latency of the subscriber that
// had it first, sorted: how long the event took to reach the fan-out,
// apart from the fan-out itself. Every subscriber receives the events in
// order from startMeasuring on, so the k-th latency of each is the same
// event's.
func (a *audience) firstArrivals() []time.Duration {
	var first []time.Duration
	for _, l := range a.lat {
		for k, d := range l {
			if k == len(first) {
				first = append(first, d)
			} else if d < first[k] {
				first[k] = d
			}
		}
	}
	slices.Sort(first)
	return first
}

func (a *audience) close() {
	a.closing.Store(true)
	for _, c := range a.conns {
		if c != nil {
			_ = c.Close()
		}
	}
	a.readers.Wait()
}

// hubServerCommand is `ottr-bench hub-server`, the fan-out baseline that
// the tool runs as a child process.
const hubServerCommand = "hub-server"

// startHub runs the plain websocket hub: a child process of this tool
// when the server under test is one, else in this process.
func (e *env) startHub(ctx context.Context) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if e.opts.server == serverChild && e.opts.url == "" {
		return e.startTool(ctx, "hub", addr, []string{hubServerCommand, "-addr", addr}, "/healthz")
	}
	h := newHub()
	srv := &http.Server{Addr: addr, Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
	e.closers = append(e.closers, func() error { h.closeAll(); return srv.Close() })
	if _, err := waitReady(ctx, "http://"+addr+"/healthz", nil); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return &server{url: "http://" + addr, proc: &proc{pid: os.Getpid(), shared: true}}, nil
}

// serveHub runs the hub until ctx ends.
func serveHub(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ottr-bench "+hubServerCommand, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := newHub()
	srv := &http.Server{Addr: *addr, Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	h.closeAll()
	return srv.Close()
}
