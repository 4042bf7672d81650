package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// stagesReadTimeout bounds the reading of the deliveries' stages after
// the last measured phase.
const stagesReadTimeout = 30 * time.Second

// runWebhooks is dispatch for webhook endpoints: APPROVAL_CREATED events
// committed at a constant rate, each delivered, signed, to every endpoint
// of its project (all keeping each approval's order, the default) at a
// receiver in this process that answers at once, against PostgreSQL's
// LISTEN/NOTIFY carrying as many messages a second. Every round of the
// baseline runs before the server starts, so that nothing of ours runs
// beside it; ours is timed from the confirmed commit (the createApproval
// response) to the request's arrival.
func runWebhooks(ctx context.Context, e *env, r *Report) error {
	rate, endpoints := e.opts.rate, e.opts.channels
	if rate <= 0 {
		rate = DefaultDispatchRate
	}
	projects := int(math.Ceil(2 * rate))
	r.Concurrency, r.Rate = projects*endpoints, rate

	listener, err := e.listen(ctx)
	if err != nil {
		return err
	}
	pool, err := e.openDirect(ctx, e.opts.concurrency)
	if err != nil {
		return err
	}
	var seq atomic.Int64
	baseline := dispatchSide{name: "baseline", arrivals: listener.arrivals, perEvent: 1, rateFactor: endpoints, fromSend: true,
		send: func(ctx context.Context) (int64, error) {
			n := seq.Add(1)
			_, err := pool.db().exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(n, 10))
			return n, err
		}}
	var bases []Side
	for range e.opts.rounds {
		if ctx.Err() != nil {
			break
		}
		b, err := baseline.measure(ctx, e, rate)
		if err != nil {
			return err
		}
		bases = append(bases, b)
	}

	srv, fake, ps, err := e.setUpWebhooks(ctx, projects, endpoints)
	if err != nil {
		return err
	}
	clients := make([]*gqlClient, projects)
	for i, p := range ps {
		clients[i] = newGQLClient(srv.url, p.WriteKey, 2)
		defer clients[i].close()
	}
	// The measured phases' events and latencies, for the stages.
	var (
		measuredKeys []string
		measuredLat  []time.Duration
	)
	ours := dispatchSide{name: "ours", proc: srv.proc, arrivals: fake.arrivals, perEvent: endpoints,
		send: func(ctx context.Context) (int64, error) {
			n := seq.Add(1)
			p := int(n) % projects
			body := request(createMutation, map[string]any{"p": ps[p].ID, "i": approvalInput(dispatchKeyPath(n))})
			return n, clients[p].do(ctx, body, nil)
		},
		measured: func(events []int64, lat []time.Duration) {
			for _, n := range events {
				measuredKeys = append(measuredKeys, dispatchKeyPath(n))
			}
			measuredLat = append(measuredLat, lat...)
		}}
	for i := range bases {
		if ctx.Err() != nil {
			break
		}
		o, err := ours.measure(ctx, e, rate)
		if err != nil {
			return err
		}
		r.Rounds = append(r.Rounds, Round{Ours: o, Baseline: &bases[i]})
	}
	if len(r.Rounds) > 0 {
		// Every measured phase has ended: reading the rows now changes
		// none of the figures above. An interrupted run still reads those
		// of what it measured.
		var ids []string
		for _, p := range ps {
			ids = append(ids, p.Channels...)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stagesReadTimeout)
		defer cancel()
		stages, err := readSettledWebhookStages(rctx, pool.db(), ids, measuredKeys)
		if err != nil {
			return err
		}
		r.Stages = append(stages, newStage(stageTotal, measuredLat))
	}
	if e.opts.ordering != "" {
		r.Notes = append(r.Notes, "every channel's ordering: "+e.opts.ordering)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%g events/s round-robin over %d projects of %d webhook endpoints (%g deliveries/s offered, "+
		"at most one every %.1f s per endpoint); ops are deliveries; the baseline, measured before the server starts, sends as many NOTIFYs a second, each in its own transaction",
		rate, projects, endpoints, rate*float64(endpoints), float64(projects)/rate))
	return nil
}

// setUpWebhooks starts a receiver and the server under test, allowed to
// send to it, and makes projects (each with a WRITE key) of n webhook
// endpoints each, selecting every event type, all sending to the
// receiver.
func (e *env) setUpWebhooks(ctx context.Context, projects, n int) (*server, *fakeSlack, []*project, error) {
	if n <= 0 {
		return nil, nil, nil, errors.New("webhooks: -channels (endpoints per project) must be at least 1")
	}
	if e.opts.url != "" {
		return nil, nil, nil, errors.New("webhook endpoints need a server this tool starts, allowed to send to its receiver: drop -url")
	}
	// The fake Slack answers 200 at once and records each event's
	// arrival by its key path, which the webhook payload carries too.
	fake, stop, err := startFakeSlack()
	if err != nil {
		return nil, nil, nil, err
	}
	e.closers = append(e.closers, stop)
	e.extraEnv = map[string]string{"OTTR_WEBHOOK_ALLOWED_PREFIXES": fake.url + "/hooks/"}
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
		for c := range n {
			var out struct {
				AddWebhookEndpoint struct{ Endpoint struct{ ID string } }
			}
			err := user.do(ctx, request(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { endpoint { id } } }`,
				map[string]any{"p": p.ID, "i": e.withOrdering(map[string]any{"name": fmt.Sprintf("bench-%d", c), "events": allEventTypes(),
					"url": fmt.Sprintf("%s/hooks/%d/%d", fake.url, i, c)})}), &out)
			if err != nil {
				return fmt.Errorf("add a webhook endpoint: %w", err)
			}
			p.Channels = append(p.Channels, out.AddWebhookEndpoint.Endpoint.ID)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("set up %d projects of %d webhook endpoints: %w", projects, n, err)
	}
	return srv, fake, ps, nil
}
