package approval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const settingsQuery = `query($p: ID!) { project(id: $p) { settings { expireOnTime remindBeforeSeconds } } }`

const settingsMutation = `mutation($p: ID!, $i: ProjectSettingsInput!) {
	updateProjectSettings(projectId: $p, input: $i) { id settings { expireOnTime remindBeforeSeconds } } }`

type settingsOut struct {
	ExpireOnTime        bool
	RemindBeforeSeconds *int
}

// settings reads a project's settings as c.
func settings(t *testing.T, c *testserver.Client, pid string) settingsOut {
	t.Helper()
	var out struct {
		Project struct{ Settings settingsOut }
	}
	c.MustDo(settingsQuery, map[string]any{"p": pid}, &out)
	return out.Project.Settings
}

// setSettings changes a project's settings as c and returns what the
// mutation answers.
func setSettings(t *testing.T, c *testserver.Client, pid string, input map[string]any) settingsOut {
	t.Helper()
	var out struct {
		UpdateProjectSettings struct{ Settings settingsOut }
	}
	c.MustDo(settingsMutation, map[string]any{"p": pid, "i": input}, &out)
	return out.UpdateProjectSettings.Settings
}

func wantSettings(t *testing.T, got settingsOut, expire bool, remind *int) {
	t.Helper()
	if got.ExpireOnTime != expire || (got.RemindBeforeSeconds == nil) != (remind == nil) ||
		(remind != nil && *got.RemindBeforeSeconds != *remind) {
		t.Fatalf("settings %+v (remind %v), want expireOnTime %v remindBeforeSeconds %v", got, got.RemindBeforeSeconds, expire, remind)
	}
}

func TestMaxRemindIsBelowTheLongestTTL(t *testing.T) {
	t.Parallel()
	if project.MaxApprovalTTL != approval.MaxTTL || project.MaxRemindBeforeSeconds != int(approval.MaxTTL/time.Second)-1 {
		t.Fatalf("project.MaxApprovalTTL %v, approval.MaxTTL %v", project.MaxApprovalTTL, approval.MaxTTL)
	}
}

func TestProjectSettings(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		wantSettings(t, settings(t, e.owner.Client, e.pid), false, nil)

		// A field left out stays; null turns the reminder off.
		wantSettings(t, setSettings(t, e.owner.Client, e.pid, map[string]any{"expireOnTime": true}), true, nil)
		wantSettings(t, setSettings(t, e.owner.Client, e.pid, map[string]any{"remindBeforeSeconds": 300}), true, ptr(300))
		wantSettings(t, setSettings(t, e.owner.Client, e.pid, map[string]any{}), true, ptr(300))
		wantSettings(t, setSettings(t, e.owner.Client, e.pid, map[string]any{"remindBeforeSeconds": nil}), true, nil)
		wantSettings(t, setSettings(t, e.owner.Client, e.pid, map[string]any{"expireOnTime": false, "remindBeforeSeconds": 2591999}), false, ptr(2591999))
		wantSettings(t, setSettings(t, e.owner.Client, e.pid, map[string]any{"remindBeforeSeconds": 1}), false, ptr(1))

		// Refused input changes nothing.
		for _, tc := range []struct {
			input map[string]any
			code  string
			field []string
		}{
			{map[string]any{"remindBeforeSeconds": 0}, "BAD_USER_INPUT", []string{"remindBeforeSeconds"}},
			{map[string]any{"remindBeforeSeconds": -60}, "BAD_USER_INPUT", []string{"remindBeforeSeconds"}},
			{map[string]any{"remindBeforeSeconds": 2592000}, "BAD_USER_INPUT", []string{"remindBeforeSeconds"}},
			{map[string]any{"expireOnTime": nil}, "BAD_USER_INPUT", []string{"expireOnTime"}},
			{map[string]any{"expireOnTime": nil, "remindBeforeSeconds": 0}, "BAD_USER_INPUT", []string{"expireOnTime", "remindBeforeSeconds"}},
			// Variables not of their declared type are refused as they are
			// coerced, as everywhere in the API, naming the variable's path.
			{map[string]any{"remindBeforeSeconds": 1e12}, "BAD_USER_INPUT", []string{"i.remindBeforeSeconds"}},
			{map[string]any{"expireOnTime": "yes"}, "BAD_USER_INPUT", []string{"i.expireOnTime"}},
			{map[string]any{"expireOnTime": true, "colour": "red"}, "BAD_USER_INPUT", nil},
		} {
			r := e.owner.Do(settingsMutation, map[string]any{"p": e.pid, "i": tc.input})
			if len(r.Errors) == 0 {
				t.Fatalf("%v: accepted: %s", tc.input, r.Data)
			}
			for i, err := range r.Errors {
				if err.Code() != tc.code || (tc.field != nil && (len(r.Errors) != len(tc.field) || err.Field() != tc.field[i])) {
					t.Fatalf("%v: errors %+v, want %s on %v", tc.input, r.Errors, tc.code, tc.field)
				}
				if strings.Contains(strings.ToLower(err.Message), "sql") {
					t.Fatalf("%v: message leaks the database: %q", tc.input, err.Message)
				}
			}
		}
		wantSettings(t, settings(t, e.owner.Client, e.pid), false, ptr(1))

		// An id PostgreSQL cannot store.
		wantError(t, e.owner.ErrorCode(settingsMutation, map[string]any{"p": "p\x00", "i": map[string]any{"expireOnTime": true}}), "BAD_USER_INPUT", "projectId")

		// OWNER and ADMIN only; every member and WRITE key reads them, a
		// READ key does not (how a project is set up is not a value).
		admin, member := e.srv.SignUp("Admin"), e.srv.SignUp("Member")
		e.owner.AddMember(e.pid, admin.Email, "ADMIN")
		e.owner.AddMember(e.pid, member.Email, "MEMBER")
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		wantSettings(t, setSettings(t, admin.Client, e.pid, map[string]any{"expireOnTime": true}), true, ptr(1))
		input := map[string]any{"p": e.pid, "i": map[string]any{"expireOnTime": false}}
		for name, c := range map[string]*testserver.Client{"member": member.Client, "write key": e.write, "read key": e.srv.Client(readKey)} {
			if err := c.ErrorCode(settingsMutation, input); err.Code() != "FORBIDDEN" {
				t.Fatalf("%s: %s %q, want FORBIDDEN", name, err.Code(), err.Message)
			}
			if name == "read key" {
				wantError(t, c.ErrorCode(settingsQuery, map[string]any{"p": e.pid}), "FORBIDDEN", "")
				continue
			}
			wantSettings(t, settings(t, c, e.pid), true, ptr(1))
		}
		// Another project's key does not see this one.
		_, otherKey := e.owner.CreateAPIKey(e.owner.CreateProject("Other"), "WRITE")
		wantError(t, e.srv.Client(otherKey).ErrorCode(settingsMutation, input), "NOT_FOUND", "")
		wantError(t, e.owner.ErrorCode(settingsMutation, map[string]any{"p": "00000000-0000-0000-0000-000000000000", "i": map[string]any{}}), "NOT_FOUND", "")
		if err := e.anon.ErrorCode(settingsMutation, input); err.Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous: %s", err.Code())
		}
		wantSettings(t, settings(t, e.owner.Client, e.pid), true, ptr(1))
	})
}

// deadlineEnv is a server whose clock stands still, with a fake Slack the
// project's channels post to.
type deadlineEnv struct {
	*env
	fake *slacktest.Server
}

// quick polls River's queues often, so that a sweep inserted on SQLite
// (which has no LISTEN) is fetched at once, and lets the fake Slack in.
func quick(fake *slacktest.Server) testserver.Option {
	return func(c *config.Config) {
		c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		c.Delivery.FetchPollInterval = 100 * time.Millisecond
		c.Delivery.ChannelInterval = time.Millisecond
		c.Delivery.ChannelBurst = 100
	}
}

func newDeadlineEnv(t *testing.T, cfg config.Config) *deadlineEnv {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	clock := &testserver.Clock{}
	clock.Freeze()
	srv := testserver.StartWith(t, cfg, testserver.WithClock(clock), quick(fake))
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Deploys")
	_, key := owner.CreateAPIKey(pid, "WRITE")
	return &deadlineEnv{env: &env{t: t, srv: srv, clock: clock, owner: owner, pid: pid, write: srv.Client(key), anon: srv.Client("")}, fake: fake}
}

const deadlineEvents = `subscription($p: ID!, $t: [EventType!]) { projectEvents(projectId: $p, types: $t, after: "0") { id type approvalId } }`

// watch subscribes to a project's reminders and expiries, from the start
// of its log, so that none is missed while the subscription starts.
func (e *deadlineEnv) watch(pid string) *testserver.Sub {
	e.t.Helper()
	ws := e.srv.Connect(testserver.TransportWS, e.owner.AccessToken)
	e.t.Cleanup(func() { _ = ws.Conn.CloseNow() })
	return ws.Subscribe(deadlineEvents, map[string]any{"p": pid, "t": []string{"APPROVAL_EXPIRING", "APPROVAL_EXPIRED"}})
}

// next returns the next event of a projectEvents subscription as "TYPE
// approvalId".
func next(t *testing.T, sub *testserver.Sub) string {
	t.Helper()
	r := sub.Next()
	if len(r.Errors) > 0 || r.Complete {
		t.Fatalf("subscription ended: %+v", r)
	}
	var out struct{ ProjectEvents eventOut }
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out.ProjectEvents.Type + " " + *out.ProjectEvents.ApprovalID
}

// TestReminderIsRecordedOnceAtItsTime moves the clock past one reminder
// time after another; each sweep that records a due reminder shows that
// the reminders not due yet were looked at and left alone.
func TestReminderIsRecordedOnceAtItsTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newDeadlineEnv(t, testserver.Config(t, d))
		setSettings(t, e.owner.Client, e.pid, map[string]any{"remindBeforeSeconds": 60})
		webhook := e.fake.WebhookURL("T1", "B1", "expiring")
		e.owner.AddSlackChannel(e.pid, "ops", webhook, "APPROVAL_EXPIRING")
		sub := e.watch(e.pid)
		start := e.clock.Now().UTC().Truncate(time.Microsecond)

		a := e.create(map[string]any{"keyPath": "deploy/a", "value": "go", "ttlSeconds": 100}) // reminder at +40 s
		b := e.create(map[string]any{"keyPath": "deploy/b", "value": "go", "ttlSeconds": 200}) // at +140 s
		short := e.create(map[string]any{"keyPath": "deploy/short", "value": "go", "ttlSeconds": 60})
		done := e.create(map[string]any{"keyPath": "deploy/done", "value": "go", "ttlSeconds": 100})
		withdrawn := e.create(map[string]any{"keyPath": "deploy/withdrawn", "value": "go", "ttlSeconds": 100})
		execute(t, e.anon, done.Token, open(t, e.anon, done.Token).Nonce, "approve", nil)
		e.write.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id) { id } }`, map[string]any{"id": withdrawn.Approval.ID}, nil)

		// A script waiting on b sees its reminder.
		ws := e.srv.Connect(testserver.TransportWS, e.owner.AccessToken)
		t.Cleanup(func() { _ = ws.Conn.CloseNow() })
		updates := ws.Subscribe(`subscription($id: ID!) { approvalUpdated(id: $id) { status remindedAt } }`, map[string]any{"id": b.Approval.ID})
		update := func() (status string, remindedAt *time.Time) {
			t.Helper()
			var out struct {
				ApprovalUpdated struct {
					Status     string
					RemindedAt *time.Time
				}
			}
			if r := updates.Next(); len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
				t.Fatalf("approvalUpdated: %+v", r)
			}
			return out.ApprovalUpdated.Status, out.ApprovalUpdated.RemindedAt
		}
		if status, at := update(); status != "PENDING" || at != nil {
			t.Fatalf("first update: %s reminded at %v", status, at)
		}

		e.clock.Advance(39 * time.Second)
		c := e.create(map[string]any{"keyPath": "deploy/c", "value": "go", "ttlSeconds": 61}) // at +40 s
		e.clock.Advance(6 * time.Second)
		var first []string
		for range 2 {
			first = append(first, next(t, sub))
		}
		slices.Sort(first)
		want := []string{"APPROVAL_EXPIRING " + a.Approval.ID, "APPROVAL_EXPIRING " + c.Approval.ID}
		slices.Sort(want)
		if !slices.Equal(first, want) {
			t.Fatalf("at +45 s: %v, want %v", first, want)
		}
		e.wantEvents(b.Approval.ID, "APPROVAL_CREATED")

		e.clock.Advance(95 * time.Second) // +140 s
		if got := next(t, sub); got != "APPROVAL_EXPIRING "+b.Approval.ID {
			t.Fatalf("at +140 s: %s, want b's reminder", got)
		}
		if status, at := update(); status != "PENDING" || at == nil || !at.Equal(start.Add(140*time.Second)) {
			t.Fatalf("update after the reminder: %s reminded at %v, want %v", status, at, start.Add(140*time.Second))
		}
		// Another reminder comes through only after the sweeps that
		// could have repeated the earlier ones.
		last := e.create(map[string]any{"keyPath": "deploy/last", "value": "go", "ttlSeconds": 61})
		e.clock.Advance(2 * time.Second)
		if got := next(t, sub); got != "APPROVAL_EXPIRING "+last.Approval.ID {
			t.Fatalf("%s, want the last reminder", got)
		}

		for _, x := range []created{a, b, c, last} {
			e.wantEvents(x.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRING")
		}
		e.wantEvents(short.Approval.ID, "APPROVAL_CREATED")
		e.wantEvents(done.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
		e.wantEvents(withdrawn.Approval.ID, "APPROVAL_CREATED", "APPROVAL_INVALIDATED")
		// Without expireOnTime nothing expires on its own, although short
		// and c are past their time: their status is only read EXPIRED.
		if got := e.approval(short.Approval.ID).Status; got != "EXPIRED" {
			t.Fatalf("short reads %s", got)
		}

		reqs, err := e.fake.Wait(4, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, r := range reqs {
			texts = append(texts, r.Text())
		}
		wantText := "⏰ Approval expiring soon in Deploys\nKey: deploy/b\nExpires: " + start.Add(200*time.Second).Format(time.RFC3339)
		if !slices.Contains(texts, wantText) {
			t.Fatalf("Slack got %q, want among them %q", texts, wantText)
		}
	})
}

// TestExpireOnTime: with expireOnTime an approval nobody opens becomes
// EXPIRED at its time, once; in a project without it, nothing happens
// until someone opens the link.
func TestExpireOnTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newDeadlineEnv(t, testserver.Config(t, d))
		setSettings(t, e.owner.Client, e.pid, map[string]any{"expireOnTime": true})
		other := e.owner.CreateProject("Elsewhere")
		_, otherKey := e.owner.CreateAPIKey(other, "WRITE")
		sub := e.watch(e.pid)
		otherSub := e.watch(other)

		a := e.create(map[string]any{"keyPath": "deploy/a", "value": "go", "ttlSeconds": 10})
		b := e.create(map[string]any{"keyPath": "deploy/b", "value": "go", "ttlSeconds": 30})
		var out struct{ CreateApproval created }
		e.srv.Client(otherKey).MustDo(createMutation, map[string]any{"p": other, "i": map[string]any{"keyPath": "deploy/x", "value": "go", "ttlSeconds": 10}}, &out)
		untimed := out.CreateApproval

		// The script waiting on a's decision learns it without polling.
		ws := e.srv.Connect(testserver.TransportWS, e.owner.AccessToken)
		t.Cleanup(func() { _ = ws.Conn.CloseNow() })
		updates := ws.Subscribe(`subscription($id: ID!) { approvalUpdated(id: $id) { status } }`, map[string]any{"id": a.Approval.ID})
		if r := updates.Next(); !strings.Contains(string(r.Data), "PENDING") {
			t.Fatalf("first update: %+v", r)
		}

		e.clock.Advance(11 * time.Second)
		if got := next(t, sub); got != "APPROVAL_EXPIRED "+a.Approval.ID {
			t.Fatalf("%s, want a's expiry", got)
		}
		if r := updates.Next(); !strings.Contains(string(r.Data), "EXPIRED") {
			t.Fatalf("update after expiry: %+v", r)
		}
		e.wantEvents(b.Approval.ID, "APPROVAL_CREATED")

		// Opening a's link now is refused without a second event.
		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": a.Token}), "CONFLICT", "")

		e.clock.Advance(20 * time.Second)
		if got := next(t, sub); got != "APPROVAL_EXPIRED "+b.Approval.ID {
			t.Fatalf("%s, want b's expiry", got)
		}
		e.wantEvents(a.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
		e.wantEvents(b.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")

		// The other project's approval, past its time through both sweeps,
		// has no event until its link is opened.
		var events struct {
			Approval struct{ Events []eventOut }
		}
		e.owner.MustDo(`query($id: ID!) { approval(id: $id) { events { type } } }`, map[string]any{"id": untimed.Approval.ID}, &events)
		if len(events.Approval.Events) != 1 {
			t.Fatalf("untimed approval's events: %+v", events.Approval.Events)
		}
		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": untimed.Token}), "CONFLICT", "")
		if got := next(t, otherSub); got != "APPROVAL_EXPIRED "+untimed.Approval.ID {
			t.Fatalf("%s, want the expiry of the opened link", got)
		}
	})
}

// TestDeadlinesRaceAccessAttempts: sweeps of every instance and access
// attempts on every instance race for the same approvals; each gets one
// reminder and one APPROVAL_EXPIRED. On PostgreSQL two servers share the
// database.
func TestDeadlinesRaceAccessAttempts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		cfg := testserver.Config(t, d)
		e := newDeadlineEnv(t, cfg)
		servers := []*testserver.Server{e.srv}
		if d == store.Postgres {
			servers = append(servers, testserver.StartWith(t, cfg, testserver.WithClock(e.clock), quick(e.fake)))
		}
		setSettings(t, e.owner.Client, e.pid, map[string]any{"expireOnTime": true, "remindBeforeSeconds": 10})
		const n = 20
		approvals := make([]created, n)
		for i := range approvals {
			approvals[i] = e.create(map[string]any{"keyPath": fmt.Sprintf("deploy/%d", i), "value": "go", "ttlSeconds": 20})
		}

		// Sweeps by hand on every instance, besides River's.
		sweep := func() {
			var wg sync.WaitGroup
			for _, srv := range servers {
				for range 3 {
					wg.Go(func() {
						if _, err := srv.App.Approvals.SweepDeadlines(context.Background()); err != nil {
							t.Errorf("sweep: %v", err)
						}
					})
				}
			}
			wg.Wait()
		}
		e.clock.Advance(11 * time.Second)
		sweep()

		e.clock.Advance(10 * time.Second)
		var wg sync.WaitGroup
		wg.Go(sweep)
		for i, a := range approvals {
			srv := servers[i%len(servers)]
			c := srv.Client("").FromIP(clientIP(i))
			wg.Go(func() {
				if r := c.Do(linkQuery, map[string]any{"t": a.Token}); len(r.Errors) != 1 || r.Errors[0].Code() != "CONFLICT" {
					t.Errorf("opening %s: %+v", a.Approval.ID, r.Errors)
				}
			})
		}
		wg.Wait()
		sweep()

		for _, a := range approvals {
			e.wantEvents(a.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRING", "APPROVAL_EXPIRED")
		}
	})
}

// sweepSkipped is River's log line for a sweep the constructor held back.
const sweepSkipped = "nil returned from periodic job constructor, skipping"

// waitFor polls cond until it holds, failing after a generous while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweepJobs counts the deadline sweep jobs River has inserted.
func sweepJobs(t *testing.T, srv *testserver.Server) int64 {
	t.Helper()
	var n int64
	err := srv.App.Store.DB(context.Background()).Raw(`SELECT count(*) FROM river_job WHERE kind = 'approval_deadlines'`).Scan(&n).Error
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoSweepWhileNothingOptedIn: the River leader inserts no sweep job
// while no project wants deadlines, and starts as soon as one does.
func TestNoSweepWhileNothingOptedIn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newDeadlineEnv(t, testserver.Config(t, d))
		// Two sweeps held back: the one on start and the one a second on.
		waitFor(t, "two skipped sweeps", func() bool { return strings.Count(e.srv.Logs.String(), sweepSkipped) >= 2 })
		if n := sweepJobs(t, e.srv); n != 0 {
			t.Fatalf("%d sweep jobs inserted while no project opted in", n)
		}

		setSettings(t, e.owner.Client, e.pid, map[string]any{"remindBeforeSeconds": 60})
		waitFor(t, "a sweep job after the opt-in", func() bool { return sweepJobs(t, e.srv) > 0 })
	})
}

// TestOptInElsewhereIsSwept: a project that opts in where the River leader
// did not see it (on PostgreSQL through a second server, on SQLite by
// another writer of the file) is swept within OptInRefreshEvery.
func TestOptInElsewhereIsSwept(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		cfg := testserver.Config(t, d)
		e := newDeadlineEnv(t, cfg)
		// The first server is the leader: it is the one holding sweeps back.
		waitFor(t, "the leader's skipped sweep", func() bool { return strings.Contains(e.srv.Logs.String(), sweepSkipped) })
		sub := e.watch(e.pid)
		a := e.create(map[string]any{"keyPath": "deploy/a", "value": "go", "ttlSeconds": 10})
		e.clock.Advance(11 * time.Second)

		var optedIn time.Time
		if d == store.Postgres {
			other := testserver.StartWith(t, cfg, testserver.WithClock(e.clock), quick(e.fake))
			optedIn = time.Now()
			setSettings(t, other.Client(e.owner.AccessToken), e.pid, map[string]any{"expireOnTime": true})
			if !other.App.Approvals.DeadlinesWanted() {
				t.Fatal("the instance that took the opt-in does not know of it")
			}
		} else {
			optedIn = time.Now()
			err := e.srv.App.Store.DB(context.Background()).Exec(`UPDATE projects SET expire_on_time = ? WHERE id = ?`, true, e.pid).Error
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := next(t, sub); got != "APPROVAL_EXPIRED "+a.Approval.ID {
			t.Fatalf("%s, want a's expiry", got)
		}
		took := time.Since(optedIn)
		t.Logf("swept %v after the opt-in", took)
		if bound := approval.OptInRefreshEvery + approval.SweepEvery + 5*time.Second; took > bound {
			t.Fatalf("swept %v after the opt-in, want within %v", took, bound)
		}
	})
}
