package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
)

// The peer: PostGraphile 4 (pinned in test/postgraphile), a GraphQL server
// generated from the database's schema, serving the same tables on the
// same database. It checks no credential and writes only the rows it is
// asked for: what a GraphQL server over PostgreSQL costs with nothing of
// Ottr's rules. Each side runs with the other's process stopped
// (SIGSTOP), so that neither takes CPU from the other.

// pagePeerApprovals is the dashboard page's size: approvals of a project
// with their events.
const pagePeerApprovals = 50

// pageQuery is the dashboard's page as Ottr serves it, with a READ key.
const pageQuery = `query($p: ID!, $n: Int!) { project(id: $p) { id name
	approvals(first: $n) { edges { node { id keyPath status expiresAt events { id type occurredAt } } } } } }`

// peerPageQuery is the same page through PostGraphile's generated
// connections, newest first as ours.
const peerPageQuery = `query($p: String!, $n: Int!) { projectById(id: $p) { id name
	approvalsByProjectId(first: $n, orderBy: [CREATED_AT_DESC, ID_DESC]) { edges { node { id keyPath status expiresAt
		eventsByApprovalId(orderBy: ID_ASC) { nodes { id type occurredAt } } } } } } }`

// peerCreateMutation is PostGraphile's generated insert of one approval
// row.
const peerCreateMutation = `mutation($i: CreateApprovalInput!) { createApproval(input: $i) { approval { id status expiresAt } } }`

// postgraphileDir is test/postgraphile, where package.json pins the peer.
func postgraphileDir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "..", "test", "postgraphile")
}

// installedStamp, inside node_modules, holds the SHA-256 of the
// package-lock.json that npm ci installed from.
const installedStamp = ".ottr-installed"

// installNodeTools installs dir's npm packages with npm ci from its
// lockfile on first use, under a file lock (several processes may ask at
// once), and not again while the lockfile stays the same; it returns the
// node binary.
func installNodeTools(ctx context.Context, dir string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("node not found: install Node.js 20 or later (apt-get install -y nodejs npm)")
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("the peer's lockfile: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", installedStamp)
	if got, _ := os.ReadFile(stamp); string(got) == want {
		return node, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("npm not found: install it with Node.js (apt-get install -y npm)")
	}
	f, err := os.OpenFile(filepath.Join(dir, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("lock %s: %w", dir, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", dir, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	if got, _ := os.ReadFile(stamp); string(got) == want {
		return node, nil
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return "", fmt.Errorf("stamp %s: %w", dir, err)
	}
	return node, nil
}

// startPostGraphile runs PostGraphile on the scenario's database (after
// the server's migrations made its tables) until the env closes.
func (e *env) startPostGraphile(ctx context.Context) (*server, error) {
	if e.dialect != store.Postgres {
		return nil, errors.New("PostGraphile serves PostgreSQL only")
	}
	dir := postgraphileDir()
	node, err := installNodeTools(ctx, dir)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	args := []string{filepath.Join(dir, "node_modules", "postgraphile", "cli.js"),
		"-c", e.dbURL, "-s", "public", "-n", host, "-p", port, "--disable-query-log",
		"-m", strconv.Itoa(max(e.opts.concurrency, 10))}
	c, err := e.startProgram(ctx, node, "postgraphile", addr, nil, args, "/graphiql")
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, c.stop)
	return &c.server, nil
}

// peerClient speaks GraphQL to PostGraphile's /graphql.
func peerClient(base string, conns int) *gqlClient {
	c := newGQLClient(base, "", conns)
	c.url = base + "/graphql"
	return c
}

// stopOthers is a side's stopped list: the processes other than its own,
// when they are child processes (the in-process server cannot be stopped).
func stopOthers(ps ...*proc) []*proc {
	var out []*proc
	for _, p := range ps {
		if p != nil && !p.shared && p.pid != 0 {
			out = append(out, p)
		}
	}
	return out
}

// pause stops the processes (SIGSTOP) until the function returned
// continues them.
func pause(ps []*proc) func() {
	for _, p := range ps {
		_ = syscall.Kill(p.pid, syscall.SIGSTOP)
	}
	return func() {
		for _, p := range ps {
			_ = syscall.Kill(p.pid, syscall.SIGCONT)
		}
	}
}

// peerJITWarmup is how long the peer runs, unmeasured, before the first
// round: Node.js compiles PostGraphile's hot paths over its first
// seconds of load, and a peer measured before that would cost more CPU
// per operation than it does in production (a one-second warm-up left
// its first round at about twice the CPU per operation of its third).
const peerJITWarmup = 5 * time.Second

// warmPeer runs the peer's op, with ours stopped, for peerJITWarmup (or
// -warmup, when longer) before the rounds.
func (e *env) warmPeer(ctx context.Context, s sideSpec, scenario string) {
	defer pause(s.stopped)()
	l := load{Concurrency: e.opts.concurrency, Duration: max(peerJITWarmup, e.opts.warmup), Progress: e.opts.progress,
		Label: scenario + " " + s.name + " JIT warm-up"}
	if e.opts.warmup < time.Second {
		l.Duration = e.opts.warmup // smoke runs
	}
	l.run(ctx, s.op)
}

// The notes of every scenario with the peer.
const (
	stoppedNote    = "each side runs with the other's process stopped (SIGSTOP), unless that process is this one (-server inproc)"
	peerWarmupNote = "PostGraphile runs 5 s unmeasured before the first round, so that Node.js has compiled its hot paths"
)

// runCreatePeer: createApproval over HTTP as in create (WRITE key, one
// Slack channel a project, -projects projects) against PostGraphile's
// generated createApproval, which inserts the one approval row it is
// given.
func runCreatePeer(ctx context.Context, e *env, r *Report) error {
	if e.opts.url != "" {
		return errors.New("create-peer stops and continues the servers it starts: drop -url")
	}
	srv, _, ps, err := e.setUpSlack(ctx, e.opts.projects, 1)
	if err != nil {
		return err
	}
	peer, err := e.startPostGraphile(ctx)
	if err != nil {
		return err
	}
	var seq atomic.Int64
	create, closeClients := createOp(srv.url, ps, e.opts.concurrency, &seq)
	defer closeClients()
	pc := peerClient(peer.url, e.opts.concurrency)
	defer pc.close()
	ours := sideSpec{name: "ours", proc: srv.proc, profiled: true, op: create, stopped: stopOthers(peer.proc)}
	postgraphile := sideSpec{name: "postgraphile", proc: peer.proc, stopped: stopOthers(srv.proc), op: func(ctx context.Context, _ int) error {
		n := seq.Add(1)
		p := ps[int(n)%len(ps)]
		now := store.Now()
		row := map[string]any{"id": store.NewID(), "projectId": p.ID, "keyPath": fmt.Sprintf("bench/create/%d", n),
			"info": "Deploy to production?", "actions": benchActions, "status": "PENDING",
			"createdAt": now.Format(time.RFC3339Nano), "expiresAt": now.Add(approvalTTL).Format(time.RFC3339Nano),
			"tokenHash": auth.HashToken(auth.RandomToken(32)), "pinHash": benchPINHash, "maxPinAttempts": 5,
			"createdByApiKeyId": p.KeyID}
		var out struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		if err := pc.do(ctx, request(peerCreateMutation, map[string]any{"i": map[string]any{"approval": row}}), &out); err != nil {
			return err
		}
		if out.CreateApproval.Approval.ID != row["id"] {
			return fmt.Errorf("PostGraphile's createApproval answered %+v", out)
		}
		return nil
	}}
	r.Notes = append(r.Notes, fmt.Sprintf("approvals round-robin over %d projects, each with 1 enabled Slack channel", len(ps)),
		"the peer is PostGraphile 4 (test/postgraphile) on the same database: its generated createApproval inserts the one approval row, "+
			"with no credential, key, event, job or delivery; ours authenticates the WRITE key and writes the key, the approval and its event, "+
			"and its dispatcher the job and the delivery",
		stoppedNote, peerWarmupNote)
	e.warmPeer(ctx, postgraphile, r.Scenario)
	return e.compare(ctx, r, ours, postgraphile)
}

// runPage: the dashboard's page, the newest 50 approvals of a project with
// their events, read with a READ key, against the same page through
// PostGraphile's generated connections.
func runPage(ctx context.Context, e *env, r *Report) error {
	pg, err := e.setUpPage(ctx)
	if err != nil {
		return err
	}
	defer pg.close()
	ours := sideSpec{name: "ours", proc: pg.srv.proc, profiled: true, stopped: stopOthers(pg.peer.proc), op: func(ctx context.Context, _ int) error {
		var out pageJSON
		if err := pg.reader.do(ctx, pg.ourBody, &out); err != nil {
			return err
		}
		return out.check()
	}}
	postgraphile := pg.peerSide(pg.srv.proc)
	r.Notes = append(r.Notes, pg.about(),
		"ours: project(id) { approvals(first: 50) { … events } } with a READ key; the peer: PostGraphile 4's projectById { approvalsByProjectId(first: 50) { … eventsByApprovalId } }, no credential",
		stoppedNote, peerWarmupNote)
	e.warmPeer(ctx, postgraphile, r.Scenario)
	return e.compare(ctx, r, ours, postgraphile)
}

// runPageCeiling: the same page from a minimal handler that does the
// page's three reads and writes their JSON, no more, against PostGraphile:
// the most a Go server can make of the page against the peer on this
// machine, whatever it does for GraphQL, credentials and rules.
func runPageCeiling(ctx context.Context, e *env, r *Report) error {
	pg, err := e.setUpPage(ctx)
	if err != nil {
		return err
	}
	defer pg.close()
	base, err := e.startReadBaseline(ctx)
	if err != nil {
		return err
	}
	hc := newGQLClient(base.url, "", e.opts.concurrency)
	defer hc.close()
	url := fmt.Sprintf("%s/page?project=%s&n=%d", base.url, pg.projectID, pagePeerApprovals)
	if err := pg.sameAsOurs(ctx, hc, url); err != nil {
		return err
	}
	handler := sideSpec{name: "handler", proc: base.proc, stopped: stopOthers(pg.peer.proc, pg.srv.proc), op: func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		var out pageJSON
		if err := hc.send(req, &out); err != nil {
			return err
		}
		return out.check()
	}}
	postgraphile := pg.peerSide(pg.srv.proc, base.proc)
	r.Notes = append(r.Notes, pg.about(),
		"the handler (this tool's baseline server, GET /page) reads the project, the approvals' four shown columns and their events' three "+
			"in three statements by pgx and writes the same JSON as ours with encoding/json; like the peer it checks no credential",
		"our server is stopped (SIGSTOP) while either side runs, and each side runs with the other stopped",
		peerWarmupNote)
	e.warmPeer(ctx, postgraphile, r.Scenario)
	return e.compare(ctx, r, handler, postgraphile)
}

// sameAsOurs checks that the handler at url answers the page our server
// answers.
func (pg *pageSetUp) sameAsOurs(ctx context.Context, hc *gqlClient, url string) error {
	var ours, theirs pageJSON
	if err := pg.reader.do(ctx, pg.ourBody, &ours); err != nil {
		return fmt.Errorf("our page: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if err := hc.send(req, &theirs); err != nil {
		return fmt.Errorf("the handler's page: %w", err)
	}
	if err := ours.check(); err != nil {
		return fmt.Errorf("our page: %w", err)
	}
	if !reflect.DeepEqual(ours, theirs) {
		a, _ := json.Marshal(ours)
		b, _ := json.Marshal(theirs)
		return fmt.Errorf("the handler's page differs from ours:\nours:    %.600s\nhandler: %.600s", a, b)
	}
	return nil
}

// pageSetUp is a project with a page's approvals, our server with a READ
// key of it, and PostGraphile on the same database.
type pageSetUp struct {
	srv, peer         *server
	projectID         string
	reader, pc        *gqlClient
	ourBody, peerBody []byte
	closers           []func()
}

func (pg *pageSetUp) close() {
	for _, c := range pg.closers {
		c()
	}
}

func (pg *pageSetUp) about() string {
	return fmt.Sprintf("a page of the newest %d of a project's %d approvals, each with its events (one APPROVAL_CREATED each)",
		pagePeerApprovals, 2*pagePeerApprovals)
}

// peerSide reads the page through PostGraphile, with the others stopped.
func (pg *pageSetUp) peerSide(others ...*proc) sideSpec {
	return sideSpec{name: "postgraphile", proc: pg.peer.proc, stopped: stopOthers(others...), op: func(ctx context.Context, _ int) error {
		var out struct {
			ProjectByID struct {
				ApprovalsByProjectID struct {
					Edges []struct {
						Node struct {
							EventsByApprovalID struct{ Nodes []struct{ ID string } } `json:"eventsByApprovalId"`
						}
					}
				} `json:"approvalsByProjectId"`
			} `json:"projectById"`
		}
		if err := pg.pc.do(ctx, pg.peerBody, &out); err != nil {
			return err
		}
		edges := out.ProjectByID.ApprovalsByProjectID.Edges
		return checkPage(len(edges), func(i int) int { return len(edges[i].Node.EventsByApprovalID.Nodes) })
	}}
}

// setUpPage starts our server, fills a project with twice a page of
// approvals, makes a READ key and starts PostGraphile.
func (e *env) setUpPage(ctx context.Context) (*pageSetUp, error) {
	if e.opts.url != "" {
		return nil, errors.New("the page's scenarios stop and continue the servers they start: drop -url")
	}
	srv, err := e.startOurs(ctx)
	if err != nil {
		return nil, err
	}
	pg := &pageSetUp{srv: srv}
	owner, err := signUp(ctx, srv.url)
	if err != nil {
		return nil, err
	}
	defer owner.close()
	page, err := owner.newProject(ctx)
	if err != nil {
		return nil, err
	}
	pg.projectID = page.ID
	writer := newGQLClient(srv.url, page.WriteKey, e.opts.concurrency)
	defer writer.close()
	var seq atomic.Int64
	err = parallel(ctx, 2*pagePeerApprovals, e.opts.concurrency, func(ctx context.Context) error {
		body := request(createMutation, map[string]any{"p": page.ID, "i": approvalInput(fmt.Sprintf("bench/page/%d", seq.Add(1)))})
		return writer.do(ctx, body, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create the page's approvals: %w", err)
	}
	var key struct {
		CreateAPIKey struct{ Secret string } `json:"createApiKey"`
	}
	err = owner.do(ctx, request(`mutation($p: ID!) { createApiKey(projectId: $p, input: {name: "dashboard", scope: READ}) { secret } }`,
		map[string]any{"p": page.ID}), &key)
	if err != nil {
		return nil, fmt.Errorf("create a READ key: %w", err)
	}
	if pg.peer, err = e.startPostGraphile(ctx); err != nil {
		return nil, err
	}
	pg.reader = newGQLClient(srv.url, key.CreateAPIKey.Secret, e.opts.concurrency)
	pg.pc = peerClient(pg.peer.url, e.opts.concurrency)
	pg.closers = append(pg.closers, pg.reader.close, pg.pc.close)
	vars := map[string]any{"p": page.ID, "n": pagePeerApprovals}
	pg.ourBody, pg.peerBody = request(pageQuery, vars), request(peerPageQuery, vars)
	return pg, nil
}

// checkPage wants a full page whose approvals have one event each.
func checkPage(n int, events func(i int) int) error {
	if n != pagePeerApprovals {
		return fmt.Errorf("a page of %d approvals, want %d", n, pagePeerApprovals)
	}
	for i := range n {
		if events(i) != 1 {
			return fmt.Errorf("approval %d of the page has %d events, want 1", i, events(i))
		}
	}
	return nil
}
