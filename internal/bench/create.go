package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ottr/backend/internal/auth"
	"github.com/ottr/backend/internal/store"
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

// runCreate: createApproval over HTTP with a WRITE key in a project with
// one enabled Slack channel, against the statements its transaction
// commits (key, approval, event, the channel's River job and delivery), in
// one transaction, by pgx. Each approval has its own key path, so that no
// two transactions wait for one row; the approvals go round-robin over
// -projects projects, so that each channel gets fewer messages than
// Slack's one a second and deliveries (made by the server's dispatcher to
// a fake Slack, during both sides) do not pile up.
func runCreate(ctx context.Context, e *env, r *Report) error {
	channels := 1
	if e.opts.url != "" {
		// A server that runs already posts only where it was told to.
		channels = 0
		r.Notes = append(r.Notes, "no Slack channel: the server at -url cannot be pointed at the tool's fake Slack")
	}
	srv, _, ps, err := e.setUpSlack(ctx, e.opts.projects, channels)
	if err != nil {
		return err
	}
	db, err := e.openDirect(ctx, e.opts.concurrency)
	if err != nil {
		return err
	}
	client := newGQLClient(srv.url, "", e.opts.concurrency)
	defer client.close()
	clients := make([]*gqlClient, len(ps))
	for i, p := range ps {
		clients[i] = client.withToken(p.WriteKey)
	}
	var seq atomic.Int64
	ours := sideSpec{name: "ours", proc: srv.proc, profiled: true, op: func(ctx context.Context, _ int) error {
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
	}}
	baseline := sideSpec{name: "baseline", op: func(ctx context.Context, _ int) error {
		n := seq.Add(1)
		return db.tx(ctx, func(q querier) error {
			return insertApproval(ctx, db, q, ps[int(n)%len(ps)].ID, fmt.Sprintf("bench/create/%d", n), auth.HashToken(auth.RandomToken(32)))
		})
	}}
	r.Notes = append(r.Notes, fmt.Sprintf("approvals round-robin over %d projects, each with %d enabled Slack channel "+
		"(a fake Slack in this process); the server's dispatcher delivers the events of both sides as they commit", len(ps), channels),
		"the baseline sends the transaction's statements only; ours also authenticates the API key (one SELECT per request)")
	return e.compare(ctx, r, ours, baseline)
}

// insertApproval sends the statements of one createApproval's
// transaction through q: key, approval and APPROVAL_CREATED.
func insertApproval(ctx context.Context, db *direct, q querier, projectID, keyPath, tokenHash string) error {
	now := store.Now()
	id := store.NewID()
	if _, err := q.exec(ctx, db.stmt(sqlEnsureKey), projectID, keyPath, nil, now); err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	if _, err := q.exec(ctx, db.stmt(sqlInsertApproval), id, projectID, keyPath, "Deploy to production?", nil,
		benchActions, "PENDING", now, now.Add(approvalTTL), tokenHash, benchPINHash, 5, 0, nil, nil, nil, nil); err != nil {
		return fmt.Errorf("insert approval: %w", err)
	}
	return recordEvent(ctx, db, q, now, "APPROVAL_CREATED", projectID, id, keyPath, nil)
}

// benchPINHash stands in for the keyed PIN hash in the baselines' rows,
// which never check a PIN: what the baselines measure is the SQL.
const benchPINHash = "0000000000000000000000000000000000000000000000000000000000000000"
