package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
)

// createMutation asks for what a script needs back: the link.
const createMutation = `mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) {
	url token approval { id status expiresAt } } }`

// approvalTTL keeps every approval of a run pending until it is used.
const approvalTTL = time.Hour

// benchPIN protects every approval the tool creates.
const benchPIN = "2468"

// approvalInput is the createApproval input of every scenario: two actions,
// info and a PIN, on its own key path.
func approvalInput(keyPath string) map[string]any {
	return map[string]any{"keyPath": keyPath, "info": "Deploy to production?", "pin": benchPIN,
		"ttlSeconds": int(approvalTTL.Seconds()), "actions": []map[string]any{
			{"key": "approve", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
			{"key": "reject", "value": "rejected", "label": "Cancel", "style": "DANGER"}}}
}

// benchActions is approvalInput's actions as the server stores them.
const benchActions = `[{"key":"approve","value":"approved","label":"Deploy","style":"PRIMARY"},` +
	`{"key":"reject","value":"rejected","label":"Cancel","style":"DANGER"}]`

// setUp starts the server under test and makes a project with a WRITE key
// in it.
func (e *env) setUp(ctx context.Context) (*server, *project, error) {
	srv, err := e.startOurs(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := newProject(ctx, srv.url)
	if err != nil {
		return nil, nil, fmt.Errorf("set up a project: %w (server log: %s)", err, srv.logs)
	}
	return srv, p, nil
}

// runCreate: createApproval over HTTP with a WRITE key, round-robin over
// -projects projects (200 by default) each with one enabled Slack channel,
// against the four rows it must write (approval, event, River job,
// delivery) inserted in one transaction by pgx. Each approval has its own
// key path, so that no two transactions wait for one row. Deliveries are
// made by the server's dispatcher to a fake Slack, during both sides.
func runCreate(ctx context.Context, e *env, r *Report) error {
	return runCreateOn(ctx, e, r, e.opts.projects)
}

// runCreateOne: the same with every approval in one project, whose events
// are all recorded side by side.
func runCreateOne(ctx context.Context, e *env, r *Report) error {
	return runCreateOn(ctx, e, r, 1)
}

func runCreateOn(ctx context.Context, e *env, r *Report, projects int) error {
	channels := 1
	if e.opts.url != "" {
		// A server that runs already posts only where it was told to.
		channels = 0
		r.Notes = append(r.Notes, "no Slack channel: the server at -url cannot be pointed at the tool's fake Slack")
	}
	srv, _, ps, err := e.setUpSlack(ctx, projects, channels)
	if err != nil {
		return err
	}
	db, err := e.openDirect(ctx, e.opts.concurrency)
	if err != nil {
		return err
	}
	var seq atomic.Int64
	create, closeClients := createOp(srv.url, ps, e.opts.concurrency, &seq)
	defer closeClients()
	ours := sideSpec{name: "ours", proc: srv.proc, profiled: true, op: create}
	baseline := sideSpec{name: "baseline", op: func(ctx context.Context, _ int) error {
		n := seq.Add(1)
		p := ps[int(n)%len(ps)]
		return db.tx(ctx, func(q querier) error {
			return baseCreate(ctx, db, q, p.ID, p.KeyID, p.channel(), fmt.Sprintf("bench/create/%d", n), auth.HashToken(auth.RandomToken(32)))
		})
	}}
	r.Notes = append(r.Notes, fmt.Sprintf("approvals round-robin over %d projects, each with %d enabled Slack channel "+
		"(a fake Slack in this process); the server's dispatcher delivers the events of both sides as they commit", len(ps), channels),
		"the baseline inserts the approval, event, River job and delivery rows in one transaction, without a lock; "+
			"ours also authenticates the API key and creates the key's row")
	return e.compare(ctx, r, ours, baseline)
}

// runInstances: createApproval as in create, its load split evenly over
// two server instances on one PostgreSQL database, against the same load
// on one of them: how far a second instance raises throughput.
func runInstances(ctx context.Context, e *env, r *Report) error {
	if e.opts.url != "" {
		return errors.New("instances starts its own two servers: drop -url")
	}
	first, _, ps, err := e.setUpSlack(ctx, e.opts.projects, 1)
	if err != nil {
		return err
	}
	second, err := e.startOurs(ctx)
	if err != nil {
		return err
	}
	var seq atomic.Int64
	onFirst, closeFirst := createOp(first.url, ps, e.opts.concurrency, &seq)
	defer closeFirst()
	onSecond, closeSecond := createOp(second.url, ps, e.opts.concurrency, &seq)
	defer closeSecond()
	both := func(ctx context.Context, worker int) error {
		if worker%2 == 1 {
			return onSecond(ctx, worker)
		}
		return onFirst(ctx, worker)
	}
	two := sideSpec{name: "two instances", proc: first.proc, op: both}
	one := sideSpec{name: "one instance", proc: first.proc, op: onFirst}
	r.Notes = append(r.Notes, fmt.Sprintf("approvals round-robin over %d projects, each with 1 enabled Slack channel; "+
		"two instances: half the workers send to each; the ratio is two instances' throughput over one's", len(ps)),
		"CPU and memory figures are the first instance's; the two servers, PostgreSQL and this load generator share the machine's CPUs: "+
			"the ratio reaches 2 only where the servers, not the CPUs or the database, are the limit")
	return e.compare(ctx, r, two, one)
}

// createOp creates one approval over HTTP on the server at url, in the
// projects round-robin; the function returned closes its connections.
func createOp(url string, ps []*project, conns int, seq *atomic.Int64) (op, func()) {
	client := newGQLClient(url, "", conns)
	clients := make([]*gqlClient, len(ps))
	for i, p := range ps {
		clients[i] = client.withToken(p.WriteKey)
	}
	return func(ctx context.Context, _ int) error {
		n := seq.Add(1)
		p := int(n) % len(ps)
		var out struct {
			CreateApproval struct{ Token string }
		}
		body := request(createMutation, map[string]any{"p": ps[p].ID, "i": approvalInput(fmt.Sprintf("bench/create/%d", n))})
		if err := clients[p].do(ctx, body, &out); err != nil {
			return err
		}
		if out.CreateApproval.Token == "" {
			return fmt.Errorf("createApproval answered no token")
		}
		return nil
	}, client.close
}

// benchPINHash stands in for the keyed PIN hash in the baselines' rows,
// which never check a PIN: what the baselines measure is the SQL.
const benchPINHash = "0000000000000000000000000000000000000000000000000000000000000000"
