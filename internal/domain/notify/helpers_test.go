package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// env is a running server with a project, its owner and a fake Slack
// that the server may post to.
type env struct {
	t     *testing.T
	srv   *testserver.Server
	fake  *slacktest.Server
	owner *testserver.User
	pid   string
}

// fast shortens the dispatcher's waits for tests and lifts the
// per-channel rate limit; tests of those settings set them again.
func fast(fake *slacktest.Server) testserver.Option {
	return func(c *config.Config) {
		c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		c.Delivery = config.Delivery{
			FetchPollInterval: 100 * time.Millisecond,
			RetryBase:         20 * time.Millisecond,
			ChannelInterval:   time.Millisecond,
			ChannelBurst:      1000,
			HTTPTimeout:       2 * time.Second, // not less: under -race on a busy machine a first request can take 300 ms
			StopTimeout:       3 * time.Second,
		}
	}
}

func newEnv(t *testing.T, d store.Dialect, opts ...testserver.Option) *env {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	// River and the dispatcher log errors only when something is wrong
	// with them (SQLite lock contention, say), never for Slack's answers.
	// Registered first, the check runs last: after the server stopped.
	var srv *testserver.Server
	t.Cleanup(func() {
		if srv == nil {
			return
		}
		for _, line := range strings.Split(srv.Logs.String(), "\n") {
			if strings.Contains(line, "level=ERROR") {
				t.Errorf("server logged an error: %s", line)
			}
		}
	})
	srv = testserver.Start(t, d, append([]testserver.Option{fast(fake)}, opts...)...)
	owner := srv.SignUp("Owner")
	return &env{t: t, srv: srv, fake: fake, owner: owner, pid: owner.CreateProject("My Project")}
}

var secretSeq atomic.Int64

// channel adds a channel selecting events to the project and returns its
// id and webhook URL, whose secret is unique.
func (e *env) channel(name string, events ...string) (id, url string) {
	e.t.Helper()
	url = e.fake.WebhookURL("T0001", "B"+fmt.Sprint(secretSeq.Add(1)), fmt.Sprintf("S3cr3t%dXyz", secretSeq.Add(1)))
	return e.owner.AddSlackChannel(e.pid, name, url, events...), url
}

type approval struct {
	ID, Token string
	ExpiresAt time.Time
}

// createApproval creates an approval with the owner's credentials, as a
// script would.
func (e *env) createApproval(input map[string]any) approval {
	e.t.Helper()
	var out struct {
		CreateApproval struct {
			Token    string
			Approval struct {
				ID        string
				ExpiresAt time.Time
			}
		}
	}
	e.owner.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { token approval { id expiresAt } } }`,
		map[string]any{"p": e.pid, "i": input}, &out)
	return approval{ID: out.CreateApproval.Approval.ID, Token: out.CreateApproval.Token, ExpiresAt: out.CreateApproval.Approval.ExpiresAt}
}

// open reads an approval's link as the person who received it, and
// returns its status and nonce.
func (e *env) open(token string) (status, nonce string) {
	e.t.Helper()
	var out struct {
		ApprovalLink struct{ Status, Nonce string }
	}
	e.srv.Client("").MustDo(`query($t: String!) { approvalLink(token: $t) { status nonce } }`, map[string]any{"t": token}, &out)
	return out.ApprovalLink.Status, out.ApprovalLink.Nonce
}

// execute opens a link and chooses an action, with a PIN if not empty.
func (e *env) execute(token, action, pin string) string {
	e.t.Helper()
	_, nonce := e.open(token)
	vars := map[string]any{"t": token, "n": nonce, "a": action}
	if pin != "" {
		vars["pin"] = pin
	}
	var out struct{ ExecuteApproval struct{ Status string } }
	e.srv.Client("").MustDo(`mutation($t: String!, $n: String!, $a: String!, $pin: String) { executeApproval(token: $t, nonce: $n, action: $a, pin: $pin) { status } }`,
		vars, &out)
	return out.ExecuteApproval.Status
}

// record records an event of the project as the approval flows do.
func (e *env) record(typ event.Type, key string, edit ...func(*event.Event)) *event.Event {
	e.t.Helper()
	ev := &event.Event{Type: typ, ProjectID: e.pid, KeyPath: key}
	for _, f := range edit {
		f(ev)
	}
	if err := e.srv.App.Recorder.Record(context.Background(), ev); err != nil {
		e.t.Fatalf("record %s: %v", typ, err)
	}
	return ev
}

// fannedOut waits until the delivery fan-out has passed every event
// committed so far: their deliveries, if any, exist.
func (e *env) fannedOut() {
	e.t.Helper()
	db := e.srv.App.Store.DB(context.Background())
	var left int64
	eventually(e.t, 20*time.Second, func() bool {
		err := db.Raw(`SELECT count(*) FROM events, delivery_cursor c WHERE (events.xid, events.id) > (c.xid, c.event_id)`).Scan(&left).Error
		if err != nil {
			e.t.Fatalf("count the events not fanned out: %v", err)
		}
		return left == 0
	}, func() string { return fmt.Sprintf("%d events not fanned out", left) })
}

type delivery struct {
	ID                     string
	ChannelID              string
	Status                 string
	Attempts               int
	UnknownOutcomeAttempts int
	LastStatusCode         *int
	LastError              *string
	NextAttemptAt          *time.Time
	DeliveredAt            *time.Time
	CreatedAt              time.Time
	Event                  struct {
		ID      string
		Type    string
		KeyPath string
	}
}

type channelState struct {
	ID                 string
	Enabled            bool
	DisabledReason     *string
	LastDeliveryAt     *time.Time
	LastDeliveryStatus *string
	LastError          *string
	Deliveries         struct {
		Edges []struct {
			Cursor string
			Node   delivery
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

// state reads a channel and its latest deliveries through the API.
func (e *env) state(channelID string) channelState {
	e.t.Helper()
	var out struct {
		Project struct{ SlackChannels []channelState }
	}
	e.owner.MustDo(`query($p: ID!) { project(id: $p) { slackChannels { id enabled disabledReason lastDeliveryAt lastDeliveryStatus lastError
		deliveries(first: 100) { edges { cursor node { id channelId status attempts unknownOutcomeAttempts lastStatusCode lastError nextAttemptAt deliveredAt createdAt event { id type keyPath } } } pageInfo { hasNextPage endCursor } } } } }`,
		map[string]any{"p": e.pid}, &out)
	for _, c := range out.Project.SlackChannels {
		if c.ID == channelID {
			return c
		}
	}
	e.t.Fatalf("channel %s not found", channelID)
	return channelState{}
}

func (e *env) deliveries(channelID string) []delivery {
	e.t.Helper()
	var out []delivery
	for _, edge := range e.state(channelID).Deliveries.Edges {
		out = append(out, edge.Node)
	}
	return out
}

// settled waits until the channel has n deliveries, none still to be
// attempted, and returns them, newest first.
func (e *env) settled(channelID string, n int, timeout time.Duration) []delivery {
	e.t.Helper()
	var got []delivery
	eventually(e.t, timeout, func() bool {
		got = e.deliveries(channelID)
		if len(got) != n {
			return false
		}
		for _, d := range got {
			if d.Status == "PENDING" || d.Status == "RETRYING" {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("deliveries: %+v", got) })
	return got
}

// eventually polls cond until it holds or fails the test after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %s: %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// texts returns the texts the fake Slack received for a webhook.
func texts(fake *slacktest.Server, url string) []string {
	var out []string
	for _, r := range fake.RequestsTo(url) {
		out = append(out, r.Text())
	}
	return out
}

// job is a River job row.
type job struct {
	State   string
	Attempt int
	Errors  int
}

// jobsOf reads the River jobs of a delivery.
func (e *env) jobsOf(deliveryID string) []job {
	e.t.Helper()
	q := `SELECT state, attempt, coalesce(json_array_length(errors), 0) AS errors FROM river_job WHERE json_extract(args, '$.delivery_id') = ?`
	if e.srv.Dialect == store.Postgres {
		q = `SELECT state, attempt, coalesce(array_length(errors, 1), 0) AS errors FROM river_job WHERE args->>'delivery_id' = ?`
	}
	var out []job
	if err := e.srv.App.Store.DB(context.Background()).Raw(q, deliveryID).Scan(&out).Error; err != nil {
		e.t.Fatalf("read river jobs: %v", err)
	}
	return out
}

// finishedJobs waits until River has finalized every job of a delivery
// (it records a job's end after the worker returns) and returns them.
func (e *env) finishedJobs(deliveryID string) []job {
	e.t.Helper()
	var jobs []job
	eventually(e.t, 10*time.Second, func() bool {
		jobs = e.jobsOf(deliveryID)
		for _, j := range jobs {
			if j.State != "completed" && j.State != "cancelled" && j.State != "discarded" {
				return false
			}
		}
		return len(jobs) > 0
	}, func() string { return fmt.Sprintf("jobs %+v", jobs) })
	return jobs
}

// attempts reads the recorded attempts of a delivery, oldest first.
func (e *env) attempts(deliveryID string) []attempt {
	e.t.Helper()
	var out []attempt
	err := e.srv.App.Store.DB(context.Background()).Raw(
		"SELECT attempted_at, status_code, body, duration_ms, error, outcome FROM delivery_attempts WHERE delivery_id = ? ORDER BY id", deliveryID).
		Scan(&out).Error
	if err != nil {
		e.t.Fatalf("read attempts: %v", err)
	}
	return out
}

type attempt struct {
	AttemptedAt time.Time
	StatusCode  *int
	Body        *string
	DurationMs  int
	Error       *string
	Outcome     string
}

// noSecret fails if a webhook URL's secret shows in the server's log or in
// any row of the Slack and River tables.
func (e *env) noSecret(urls ...string) {
	e.t.Helper()
	logs := e.srv.Logs.String()
	var rows []string
	for _, q := range []string{
		"SELECT * FROM slack_channels", "SELECT * FROM deliveries", "SELECT * FROM delivery_attempts",
		map[store.Dialect]string{
			store.SQLite:   "SELECT json(args) AS a, json(errors) AS e FROM river_job",
			store.Postgres: "SELECT args::text AS a, array_to_string(errors, ',') AS e FROM river_job",
		}[e.srv.Dialect],
	} {
		var got []map[string]any
		if err := e.srv.App.Store.DB(context.Background()).Raw(q).Scan(&got).Error; err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		raw, _ := json.Marshal(got)
		rows = append(rows, string(raw))
	}
	for _, url := range urls {
		secret := url[strings.LastIndex(url, "/")+1:]
		if strings.Contains(logs, secret) {
			e.t.Errorf("the log contains a webhook secret")
		}
		for _, r := range rows {
			if strings.Contains(r, secret) {
				e.t.Errorf("a table holds a webhook secret: %s", r)
			}
		}
	}
}
