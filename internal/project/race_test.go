package project_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr/backend/internal/config"
	"github.com/ottr/backend/internal/slack/slacktest"
	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
	"github.com/ottr/backend/internal/testserver"
)

const (
	rounds   = 20 // races of each kind, one after the other, on one server
	deleters = 12 // concurrent deletes of one object in each race
)

// raceEnv is a server whose Slack channels post to a fake Slack, with a
// project owner and two more users to add as members.
type raceEnv struct {
	t      *testing.T
	srv    *testserver.Server
	fake   *slacktest.Server
	owner  *testserver.User
	member *testserver.User
	guest  *testserver.User
	seq    atomic.Int64
}

func newRaceEnv(t *testing.T, d store.Dialect) *raceEnv {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	srv := testserver.Start(t, d, func(c *config.Config) {
		c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		c.Delivery = config.Delivery{FetchPollInterval: 100 * time.Millisecond, RetryBase: 20 * time.Millisecond,
			ChannelInterval: time.Millisecond, ChannelBurst: 1000, HTTPTimeout: 2 * time.Second, StopTimeout: 3 * time.Second}
	})
	return &raceEnv{t: t, srv: srv, fake: fake, owner: srv.SignUp("Owner"), member: srv.SignUp("Member"), guest: srv.SignUp("Guest")}
}

// channel adds a channel selecting every event type to the fake Slack and
// returns its id and webhook URL.
func (e *raceEnv) channel(pid string) (id, url string) {
	e.t.Helper()
	n := e.seq.Add(1)
	url = e.fake.WebhookURL("T0001", fmt.Sprintf("B%d", n), fmt.Sprintf("S3cr3t%dXyz", n))
	return e.owner.AddSlackChannel(pid, fmt.Sprintf("alerts-%d", n), url, "APPROVAL_CREATED", "APPROVAL_EXECUTED",
		"APPROVAL_EXPIRED", "APPROVAL_INVALIDATED", "PIN_FAILED", "TOKEN_LOCKED"), url
}

// anon is a client without credentials from an address of its own, so
// that the per-IP link limits are never reached.
func (e *raceEnv) anon() *testserver.Client {
	n := e.seq.Add(1)
	return e.srv.Client("").FromIP(fmt.Sprintf("127.3.%d.%d", n/250%250, n%250+1))
}

// together runs every function at the same moment and waits for all.
func together(fns ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
}

// outcome is "ok" for a response without errors, otherwise its first
// error's code.
func outcome(r *testserver.Response) string {
	if len(r.Errors) == 0 {
		return "ok"
	}
	return r.Errors[0].Code()
}

// raceDeletes sends deleters copies of query (the deprecated mutation and
// its V2, alternately) at once and wants exactly one success and NOT_FOUND
// for every other.
func (e *raceEnv) raceDeletes(what string, c *testserver.Client, queries [2]string, vars map[string]any) {
	e.t.Helper()
	got := make([]*testserver.Response, deleters)
	fns := make([]func(), deleters)
	for i := range fns {
		fns[i] = func() { got[i] = c.Do(queries[i%2], vars) }
	}
	together(fns...)
	succeeded := 0
	for i, r := range got {
		switch outcome(r) {
		case "ok":
			succeeded++
		case "NOT_FOUND":
		default:
			e.t.Fatalf("delete %d of %s answered %s: %+v", i, what, outcome(r), r.Errors)
		}
	}
	if succeeded != 1 {
		e.t.Fatalf("%d of %d concurrent deletes of %s succeeded, want exactly 1", succeeded, deleters, what)
	}
}

func TestConcurrentRemovalsSucceedOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newRaceEnv(t, d)
		pid := e.owner.CreateProject("Removals")
		for range rounds {
			ch, _ := e.channel(pid)
			e.raceDeletes("a channel", e.owner.Client, [2]string{
				`mutation($id: ID!) { removeSlackChannel(id: $id) }`,
				`mutation($id: ID!) { removeSlackChannelV2(id: $id) { removedChannelId } }`,
			}, map[string]any{"id": ch})

			e.owner.AddMember(pid, e.member.Email, "ADMIN")
			e.raceDeletes("a member", e.owner.Client, [2]string{
				`mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }`,
				`mutation($p: ID!, $u: ID!) { removeProjectMemberV2(projectId: $p, userId: $u) { removedMemberId } }`,
			}, map[string]any{"p": pid, "u": e.member.ID})

			// Revoking a revoked key changes nothing and says so: every
			// concurrent revocation answers with the one stored time.
			keyID, _ := e.owner.CreateAPIKey(pid, "WRITE")
			got := make([]*testserver.Response, deleters)
			fns := make([]func(), deleters)
			for i := range fns {
				fns[i] = func() {
					got[i] = e.owner.Do(`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": keyID})
				}
			}
			together(fns...)
			for _, r := range got {
				if outcome(r) != "ok" || string(r.Data) != string(got[0].Data) {
					t.Fatalf("concurrent revocations answered %s %s and %s", outcome(r), r.Data, got[0].Data)
				}
			}
		}
		var left int64
		storetest.Must(t, e.srv.App.Store.DB(t.Context()).Raw(
			"SELECT (SELECT COUNT(*) FROM slack_channels WHERE project_id = ?) + (SELECT COUNT(*) FROM project_members WHERE project_id = ?)",
			pid, pid).Scan(&left).Error)
		if left != 1 {
			t.Fatalf("%d channels and members left, want the owner alone", left)
		}
	})
}

// projectTables are the tables with a project_id column: a deleted
// project leaves no row in any.
var projectTables = []string{"project_members", "api_keys", "key_values", "approvals", "events", "slack_channels", "idempotency_keys"}

func TestWritesRacingAProjectDeleteAnswerNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newRaceEnv(t, d)
		for round := range rounds {
			e.deleteWhileWriting(round)
		}
		// The fan-out went past the events of every deleted project: an
		// event of a project that stays reaches its channel.
		pid := e.owner.CreateProject("Survivor")
		_, url := e.channel(pid)
		e.owner.MustDo(`mutation($p: ID!) { createApproval(projectId: $p, input: {keyPath: "after/race", value: "yes"}) { url } }`,
			map[string]any{"p": pid}, nil)
		deadline := time.Now().Add(15 * time.Second)
		for len(e.fake.RequestsTo(url)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the event after the races was not delivered in 15 s; server log:\n%s", e.srv.Logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, line := range strings.Split(e.srv.Logs.String(), "\n") {
			if strings.Contains(line, "fanning out Slack deliveries failed") || strings.Contains(line, "resolver failed") {
				t.Errorf("server logged: %s", line)
			}
		}
	})
}

// deleteWhileWriting deletes a busy project deleters times at once while
// every kind of write to it runs: one delete succeeds, the others and the
// writes that come after it answer NOT_FOUND (UNAUTHENTICATED for a
// project API key, which went with the project), never INTERNAL; and the
// project leaves no row behind.
func (e *raceEnv) deleteWhileWriting(round int) {
	t := e.t
	t.Helper()
	pid := e.owner.CreateProject(fmt.Sprintf("Busy %d", round))
	e.channel(pid)
	_, key := e.owner.CreateAPIKey(pid, "WRITE")
	writeKey := e.srv.Client(key)
	create := func(input map[string]any) (token, id string) {
		var out struct {
			CreateApproval struct {
				Token    string
				Approval struct{ ID string }
			}
		}
		e.owner.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { token approval { id } } }`,
			map[string]any{"p": pid, "i": input}, &out)
		return out.CreateApproval.Token, out.CreateApproval.Approval.ID
	}
	nonce := func(c *testserver.Client, token string) string {
		var out struct{ ApprovalLink struct{ Nonce string } }
		c.MustDo(`query($t: String!) { approvalLink(token: $t) { nonce } }`, map[string]any{"t": token}, &out)
		return out.ApprovalLink.Nonce
	}
	toExecute, _ := create(map[string]any{"keyPath": "race/execute", "value": "yes"})
	withPIN, _ := create(map[string]any{"keyPath": "race/pin", "value": "yes", "pin": "8642"})
	_, toInvalidate := create(map[string]any{"keyPath": "race/invalidate", "value": "yes"})
	executor, guesser := e.anon(), e.anon()
	executeNonce, pinNonce := nonce(executor, toExecute), nonce(guesser, withPIN)

	type write struct {
		name   string
		do     func() string
		byKey  bool // sent with the project's API key
		answer string
	}
	gql := func(c *testserver.Client, query string, vars map[string]any) func() string {
		return func() string { return outcome(c.Do(query, vars)) }
	}
	rest := func(method, path, body string) func() string {
		return func() string {
			req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
			if err != nil {
				return err.Error()
			}
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("race-%d", round))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			switch resp.StatusCode {
			case http.StatusOK, http.StatusCreated:
				return "ok"
			case http.StatusNotFound:
				return "NOT_FOUND"
			case http.StatusUnauthorized:
				return "UNAUTHENTICATED"
			}
			return fmt.Sprintf("%d %s", resp.StatusCode, raw)
		}
	}
	p := map[string]any{"p": pid}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{"p": pid}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	writes := []*write{
		{name: "createApproval", do: gql(e.owner.Client, `mutation($p: ID!) { createApproval(projectId: $p, input: {keyPath: "race/create", initialValue: "no", value: "yes"}) { url } }`, p)},
		{name: "setKey", do: gql(e.owner.Client, `mutation($p: ID!) { setKey(projectId: $p, path: "race/set", value: "v") { value } }`, p)},
		{name: "addSlackChannel", do: gql(e.owner.Client, `mutation($p: ID!, $u: String!) { addSlackChannel(projectId: $p, input: {name: "late", webhookUrl: $u, events: [APPROVAL_CREATED]}) { id } }`,
			with(map[string]any{"u": e.fake.WebhookURL("T0001", "B9", fmt.Sprintf("Late%dXyz", round))}))},
		{name: "createApiKey", do: gql(e.owner.Client, `mutation($p: ID!) { createApiKey(projectId: $p, input: {name: "late", scope: READ}) { secret } }`, p)},
		{name: "addProjectMember", do: gql(e.owner.Client, `mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: VIEWER) { role } }`,
			with(map[string]any{"e": e.guest.Email}))},
		{name: "renameProject", do: gql(e.owner.Client, `mutation($p: ID!) { renameProject(id: $p, name: "Renamed") { name } }`, p)},
		{name: "invalidateApproval", do: gql(e.owner.Client, `mutation($id: ID!) { invalidateApproval(id: $id, reason: "race") { status } }`,
			map[string]any{"id": toInvalidate})},
		{name: "executeApproval", do: gql(executor, `mutation($t: String!, $n: String!) { executeApproval(token: $t, nonce: $n, action: "approve") { status } }`,
			map[string]any{"t": toExecute, "n": executeNonce})},
		{name: "executeApproval with a wrong PIN", do: gql(guesser, `mutation($t: String!, $n: String!) { executeApproval(token: $t, nonce: $n, action: "approve", pin: "0000") { status } }`,
			map[string]any{"t": withPIN, "n": pinNonce})},
		{name: "createApproval with a WRITE key", byKey: true, do: gql(writeKey, `mutation($p: ID!) { createApproval(projectId: $p, input: {keyPath: "race/key", value: "yes"}) { url } }`, p)},
		{name: "POST /v1/approvals", byKey: true, do: rest(http.MethodPost, "/v1/approvals", `{"key_path": "race/rest", "value": "yes"}`)},
		{name: "PUT /v1/key", byKey: true, do: rest(http.MethodPut, "/v1/key/race/put", `"v"`)},
	}
	deletes := make([]*testserver.Response, deleters)
	var fns []func()
	for i := range deletes {
		query := `mutation($p: ID!) { deleteProject(id: $p) }`
		if i%2 == 1 {
			query = `mutation($p: ID!) { deleteProjectV2(id: $p) { deletedProjectId } }`
		}
		fns = append(fns, func() { deletes[i] = e.owner.Do(query, p) })
	}
	for _, w := range writes {
		fns = append(fns, func() { w.answer = w.do() })
	}
	together(fns...)

	succeeded := 0
	for i, r := range deletes {
		switch outcome(r) {
		case "ok":
			succeeded++
		case "NOT_FOUND":
		default:
			t.Fatalf("round %d: delete %d answered %s: %+v", round, i, outcome(r), r.Errors)
		}
	}
	if succeeded != 1 {
		t.Fatalf("round %d: %d of %d concurrent deletes succeeded, want exactly 1", round, succeeded, deleters)
	}
	for _, w := range writes {
		if w.answer == "ok" || w.answer == "NOT_FOUND" || (w.byKey && w.answer == "UNAUTHENTICATED") {
			continue
		}
		t.Fatalf("round %d: %s racing the delete answered %s", round, w.name, w.answer)
	}
	for _, table := range projectTables {
		var n int64
		storetest.Must(t, e.srv.App.Store.DB(t.Context()).Raw("SELECT COUNT(*) FROM "+table+" WHERE project_id = ?", pid).Scan(&n).Error)
		if n != 0 {
			t.Fatalf("round %d: the deleted project left %d rows in %s", round, n, table)
		}
	}
}
