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

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const (
	rounds   = 20 // races of each kind, one after the other, on one server
	deleters = 10 // concurrent deletes of one object in each race
)

// raceEnv is a server whose Slack channels post to a fake Slack, with a
// project owner and another user to add as a member.
type raceEnv struct {
	t      *testing.T
	srv    *testserver.Server
	fake   *slacktest.Server
	owner  *testserver.User
	member *testserver.User
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
	// A failure under load cannot be run again to see why a request
	// answered INTERNAL: print the server's warnings and errors with it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server warnings and errors:\n%s", problems(srv.Logs.String()))
		}
	})
	return &raceEnv{t: t, srv: srv, fake: fake, owner: srv.SignUp("Owner"), member: srv.SignUp("Member")}
}

// problems keeps the log lines at level WARN or ERROR.
func problems(logs string) string {
	var kept []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		return "(none)"
	}
	return strings.Join(kept, "\n")
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

// wantOnce fails unless exactly one of the concurrent deletes of what
// succeeded and every other answered NOT_FOUND.
func wantOnce(t *testing.T, what string, got []*testserver.Response) {
	t.Helper()
	succeeded := 0
	for i, r := range got {
		switch outcome(r) {
		case "ok":
			succeeded++
		case "NOT_FOUND":
		default:
			t.Fatalf("%s: delete %d answered %s: %+v", what, i, outcome(r), r.Errors)
		}
	}
	if succeeded != 1 {
		t.Fatalf("%s: %d of %d concurrent deletes succeeded, want exactly 1", what, succeeded, len(got))
	}
}

func TestConcurrentRemovalsSucceedOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newRaceEnv(t, d)
		pid := e.owner.CreateProject("Removals")
		for round := range rounds {
			// A channel, a member and an API key, made in one request, then
			// removed deleters times each, all at once.
			var made struct {
				Channel struct{ ID string }
				Key     struct {
					APIKey struct{ ID string } `json:"apiKey"`
				}
			}
			n := e.seq.Add(1)
			e.owner.MustDo(`mutation($p: ID!, $u: String!, $n: String!, $e: String!) {
				channel: addSlackChannel(projectId: $p, input: {name: $n, webhookUrl: $u, events: [APPROVAL_CREATED]}) { id }
				member: addProjectMember(projectId: $p, email: $e, role: ADMIN) { role }
				key: createApiKey(projectId: $p, input: {name: "ci", scope: WRITE}) { apiKey { id } } }`,
				map[string]any{"p": pid, "n": fmt.Sprintf("alerts-%d", n), "e": e.member.Email,
					"u": e.fake.WebhookURL("T0001", fmt.Sprintf("B%d", n), fmt.Sprintf("S3cr3t%dXyz", n))}, &made)
			type removal struct {
				what    string
				queries [2]string
				vars    map[string]any
				got     []*testserver.Response
			}
			removals := []*removal{
				{what: "a channel", vars: map[string]any{"id": made.Channel.ID}, queries: [2]string{
					`mutation($id: ID!) { removeSlackChannel(id: $id) }`,
					`mutation($id: ID!) { removeSlackChannelV2(id: $id) { removedChannelId } }`}},
				{what: "a member", vars: map[string]any{"p": pid, "u": e.member.ID}, queries: [2]string{
					`mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }`,
					`mutation($p: ID!, $u: ID!) { removeProjectMemberV2(projectId: $p, userId: $u) { removedMemberId } }`}},
				{what: "an API key", vars: map[string]any{"id": made.Key.APIKey.ID}, queries: [2]string{
					`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`,
					`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`}},
			}
			var fns []func()
			for _, r := range removals {
				r.got = make([]*testserver.Response, deleters)
				for i := range deleters {
					fns = append(fns, func() { r.got[i] = e.owner.Do(r.queries[i%2], r.vars) })
				}
			}
			together(fns...)
			for _, r := range removals[:2] {
				wantOnce(t, fmt.Sprintf("round %d: %s", round, r.what), r.got)
			}
			// Revoking a revoked key changes nothing and says so: every
			// concurrent revocation answers with the one stored time.
			for _, r := range removals[2].got {
				if outcome(r) != "ok" || string(r.Data) != string(removals[2].got[0].Data) {
					t.Fatalf("round %d: concurrent revocations answered %s %s and %s", round, outcome(r), r.Data, removals[2].got[0].Data)
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
			// Wake on every request the fake Slack receives.
			if _, err := e.fake.Wait(len(e.fake.Requests())+1, time.Until(deadline)); err != nil {
				t.Fatalf("the event after the races was not delivered in 15 s (%v); server log:\n%s", err, e.srv.Logs.String())
			}
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
	// A channel for the fan-out, a WRITE key, three approvals and the
	// nonces of two links, in two requests.
	n := e.seq.Add(1)
	type created struct {
		Token    string
		Approval struct{ ID string }
	}
	var made struct {
		Channel                  struct{ ID string }
		Key                      struct{ Secret string }
		Execute, Pin, Invalidate created
	}
	e.owner.MustDo(`mutation($p: ID!, $u: String!) {
		channel: addSlackChannel(projectId: $p, input: {name: "alerts", webhookUrl: $u,
			events: [APPROVAL_CREATED, APPROVAL_EXECUTED, APPROVAL_INVALIDATED, PIN_FAILED, TOKEN_LOCKED]}) { id }
		key: createApiKey(projectId: $p, input: {name: "ci", scope: WRITE}) { secret }
		execute: createApproval(projectId: $p, input: {keyPath: "race/execute", value: "yes"}) { token approval { id } }
		pin: createApproval(projectId: $p, input: {keyPath: "race/pin", value: "yes", pin: "8642"}) { token approval { id } }
		invalidate: createApproval(projectId: $p, input: {keyPath: "race/invalidate", value: "yes"}) { token approval { id } } }`,
		map[string]any{"p": pid, "u": e.fake.WebhookURL("T0001", fmt.Sprintf("B%d", n), fmt.Sprintf("S3cr3t%dXyz", n))}, &made)
	key := made.Key.Secret
	writeKey := e.srv.Client(key)
	toExecute, withPIN, toInvalidate := made.Execute.Token, made.Pin.Token, made.Invalidate.Approval.ID
	opener := e.anon()
	var links struct{ Execute, Pin struct{ Nonce string } }
	opener.MustDo(`query($e: String!, $p: String!) { execute: approvalLink(token: $e) { nonce } pin: approvalLink(token: $p) { nonce } }`,
		map[string]any{"e": toExecute, "p": withPIN}, &links)
	executeNonce, pinNonce := links.Execute.Nonce, links.Pin.Nonce
	executor, guesser := opener, opener

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
			with(map[string]any{"e": e.member.Email}))},
		{name: "updateSlackChannel", do: gql(e.owner.Client, `mutation($id: ID!) { updateSlackChannel(id: $id, input: {name: "renamed"}) { name } }`,
			map[string]any{"id": made.Channel.ID})},
		{name: "toggleSlackChannel", do: gql(e.owner.Client, `mutation($id: ID!) { toggleSlackChannel(id: $id, enabled: false) { enabled } }`,
			map[string]any{"id": made.Channel.ID})},
		{name: "testSlackChannel", do: gql(e.owner.Client, `mutation($id: ID!) { testSlackChannel(id: $id) { ok } }`,
			map[string]any{"id": made.Channel.ID})},
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

	wantOnce(t, fmt.Sprintf("round %d: the project", round), deletes)
	for _, w := range writes {
		if w.answer == "ok" || w.answer == "NOT_FOUND" || (w.byKey && w.answer == "UNAUTHENTICATED") {
			continue
		}
		t.Fatalf("round %d: %s racing the delete answered %s", round, w.name, w.answer)
	}
	counts := make([]string, len(projectTables))
	for i, table := range projectTables {
		counts[i] = "(SELECT COUNT(*) FROM " + table + " WHERE project_id = @p)"
	}
	var left int64
	storetest.Must(t, e.srv.App.Store.DB(t.Context()).Raw("SELECT "+strings.Join(counts, " + "), map[string]any{"p": pid}).Scan(&left).Error)
	if left != 0 {
		t.Fatalf("round %d: the deleted project left %d rows in %v", round, left, projectTables)
	}
}
