package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const channelFields = `id name webhookUrlMasked events enabled disabledReason createdAt updatedAt lastDeliveryAt lastDeliveryStatus lastError`

type channel struct {
	ID                 string
	Name               string
	WebhookURLMasked   string
	Events             []string
	Enabled            bool
	DisabledReason     *string
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LastDeliveryAt     *time.Time
	LastDeliveryStatus *string
	LastError          *string
}

// start runs a server that accepts webhooks on a fake Slack.
func start(t *testing.T, d store.Dialect, opts ...testserver.Option) (*testserver.Server, *slacktest.Server) {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	opts = append([]testserver.Option{func(c *config.Config) {
		c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		c.Delivery.HTTPTimeout = time.Second // the hanging webhook's test waits this long
	}}, opts...)
	return testserver.Start(t, d, opts...), fake
}

// noSecret fails if the secret shows in the server's log, in a response
// or in any column of the Slack tables.
func noSecret(t *testing.T, srv *testserver.Server, secret string, responses ...any) {
	t.Helper()
	if strings.Contains(srv.Logs.String(), secret) {
		t.Errorf("the log contains the webhook secret")
	}
	for _, r := range responses {
		raw, _ := json.Marshal(r)
		if strings.Contains(string(raw), secret) {
			t.Errorf("a response contains the webhook secret: %s", raw)
		}
	}
	for _, table := range []string{"slack_channels", "deliveries", "delivery_attempts"} {
		var rows []map[string]any
		if err := srv.App.Store.DB(context.Background()).Raw("SELECT * FROM " + table).Scan(&rows).Error; err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for _, row := range rows {
			if strings.Contains(fmt.Sprint(row), secret) {
				t.Errorf("%s holds the webhook secret in plain text: %v", table, row)
			}
		}
	}
}

func TestChannelLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, fake := start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("My Project")
		const secret = "LifecycleS3cretXyz"
		url := fake.WebhookURL("T0001", "B0001", secret)

		var added struct{ AddSlackChannel channel }
		alice.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { `+channelFields+` } }`,
			map[string]any{"p": pid, "i": map[string]any{"name": " ops-alerts ", "webhookUrl": url, "events": []string{"PIN_FAILED", "APPROVAL_CREATED", "PIN_FAILED"}}}, &added)
		c := added.AddSlackChannel
		if c.Name != "ops-alerts" || c.WebhookURLMasked != fake.URL+"/services/T0001/B0001/••••" ||
			strings.Join(c.Events, ",") != "APPROVAL_CREATED,PIN_FAILED" || !c.Enabled || c.DisabledReason != nil ||
			c.LastDeliveryAt != nil || c.LastDeliveryStatus != nil || c.CreatedAt.IsZero() {
			t.Fatalf("added channel: %+v", c)
		}

		var upd struct{ UpdateSlackChannel channel }
		alice.MustDo(`mutation($id: ID!, $i: UpdateSlackChannelInput!) { updateSlackChannel(id: $id, input: $i) { `+channelFields+` } }`,
			map[string]any{"id": c.ID, "i": map[string]any{"name": "security", "webhookUrl": fake.WebhookURL("T0002", "B0002", secret+"2"), "events": []string{"TOKEN_LOCKED"}}}, &upd)
		u := upd.UpdateSlackChannel
		if u.Name != "security" || u.WebhookURLMasked != fake.URL+"/services/T0002/B0002/••••" || strings.Join(u.Events, ",") != "TOKEN_LOCKED" || u.UpdatedAt.Before(c.UpdatedAt) {
			t.Fatalf("updated channel: %+v", u)
		}
		// Fields left out stay as they are.
		alice.MustDo(`mutation($id: ID!) { updateSlackChannel(id: $id, input: {name: "sec"}) { `+channelFields+` } }`, map[string]any{"id": c.ID}, &upd)
		if upd.UpdateSlackChannel.Name != "sec" || strings.Join(upd.UpdateSlackChannel.Events, ",") != "TOKEN_LOCKED" || upd.UpdateSlackChannel.WebhookURLMasked != u.WebhookURLMasked {
			t.Fatalf("partial update: %+v", upd.UpdateSlackChannel)
		}

		var toggled struct{ ToggleSlackChannel channel }
		alice.MustDo(`mutation($id: ID!) { toggleSlackChannel(id: $id, enabled: false) { `+channelFields+` } }`, map[string]any{"id": c.ID}, &toggled)
		if toggled.ToggleSlackChannel.Enabled {
			t.Fatal("channel still enabled")
		}
		// As if a delivery had found the webhook dead: enabling clears the reason.
		storetest.Must(t, srv.App.Store.DB(context.Background()).Exec("UPDATE slack_channels SET disabled_reason = 'channel_is_archived' WHERE id = ?", c.ID).Error)
		var list struct {
			Project struct{ SlackChannels []channel }
		}
		alice.MustDo(`query($p: ID!) { project(id: $p) { slackChannels { `+channelFields+` } } }`, map[string]any{"p": pid}, &list)
		if len(list.Project.SlackChannels) != 1 || *list.Project.SlackChannels[0].DisabledReason != "channel_is_archived" {
			t.Fatalf("listed: %+v", list.Project.SlackChannels)
		}
		alice.MustDo(`mutation($id: ID!) { toggleSlackChannel(id: $id, enabled: true) { `+channelFields+` } }`, map[string]any{"id": c.ID}, &toggled)
		if !toggled.ToggleSlackChannel.Enabled || toggled.ToggleSlackChannel.DisabledReason != nil {
			t.Fatalf("re-enabled: %+v", toggled.ToggleSlackChannel)
		}

		// Many channels per project, names unique within it.
		second := alice.AddSlackChannel(pid, "deployments", fake.WebhookURL("T1", "B3", secret+"3"), "APPROVAL_EXECUTED")
		if e := alice.ErrorCode(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
			map[string]any{"p": pid, "i": map[string]any{"name": "sec", "webhookUrl": url, "events": []string{"PIN_FAILED"}}}); e.Code() != "CONFLICT" {
			t.Errorf("duplicate name on add: %s", e.Code())
		}
		if e := alice.ErrorCode(`mutation($id: ID!) { updateSlackChannel(id: $id, input: {name: "sec"}) { id } }`, map[string]any{"id": second}); e.Code() != "CONFLICT" {
			t.Errorf("duplicate name on update: %s", e.Code())
		}
		other := alice.CreateProject("Other")
		alice.AddSlackChannel(other, "sec", url, "PIN_FAILED") // the same name in another project is fine

		var removed struct{ RemoveSlackChannel bool }
		alice.MustDo(`mutation($id: ID!) { removeSlackChannel(id: $id) }`, map[string]any{"id": c.ID}, &removed)
		if !removed.RemoveSlackChannel {
			t.Fatal("remove answered false")
		}
		if e := alice.ErrorCode(`mutation($id: ID!) { removeSlackChannel(id: $id) }`, map[string]any{"id": c.ID}); e.Code() != "NOT_FOUND" {
			t.Errorf("second remove: %s", e.Code())
		}
		alice.MustDo(`query($p: ID!) { project(id: $p) { slackChannels { `+channelFields+` } } }`, map[string]any{"p": pid}, &list)
		if len(list.Project.SlackChannels) != 1 || list.Project.SlackChannels[0].ID != second {
			t.Fatalf("after remove: %+v", list.Project.SlackChannels)
		}
		noSecret(t, srv, secret, added, upd, toggled, list)
	})
}

func TestChannelValidation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, fake := start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		const secret = "Validati0nS3cret"
		good := fake.WebhookURL("T1", "B1", secret)
		add := `mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`
		cases := []struct {
			name, url string
			events    []string
			field     string
		}{
			{"", good, []string{"PIN_FAILED"}, "name"},
			{"   ", good, []string{"PIN_FAILED"}, "name"},
			{strings.Repeat("é", 81), good, []string{"PIN_FAILED"}, "name"},
			{"x", good, []string{}, "events"},
			{"x", "http://hooks.slack.com/services/T1/B1/" + secret, []string{"PIN_FAILED"}, "webhookUrl"},
			{"x", "https://hooks.slack.com.evil.test/services/T1/B1/" + secret, []string{"PIN_FAILED"}, "webhookUrl"},
			{"x", "https://user:pw@hooks.slack.com/services/T1/B1/" + secret, []string{"PIN_FAILED"}, "webhookUrl"},
			{"x", "https://hooks.slack.com/services/T1/B1/" + secret + "#frag", []string{"PIN_FAILED"}, "webhookUrl"},
			{"x", "https://hooks.slack.com/services/T1/B1/" + strings.Repeat(secret, 40), []string{"PIN_FAILED"}, "webhookUrl"},
			{"x", "https://example.com/services/T1/B1/" + secret, []string{"PIN_FAILED"}, "webhookUrl"},
			{"x", "https://hooks.slack.com/workflows/T1/A1/1/" + secret, []string{"PIN_FAILED"}, "webhookUrl"},
		}
		var errs []any
		for _, tc := range cases {
			e := alice.ErrorCode(add, map[string]any{"p": pid, "i": map[string]any{"name": tc.name, "webhookUrl": tc.url, "events": tc.events}})
			if e.Code() != "BAD_USER_INPUT" || e.Field() != tc.field {
				t.Errorf("%q %q %v: %s on %q (%s), want BAD_USER_INPUT on %q", tc.name, tc.url, tc.events, e.Code(), e.Field(), e.Message, tc.field)
			}
			errs = append(errs, e)
		}
		e := alice.ErrorCode(add, map[string]any{"p": pid, "i": map[string]any{"name": "x", "webhookUrl": "https://example.com/x", "events": []string{"PIN_FAILED"}}})
		if !strings.Contains(e.Message, "https://hooks.slack.com/services/") {
			t.Errorf("the message does not say what is expected: %q", e.Message)
		}
		// A name of exactly 80 characters is fine; the update path validates the same way.
		id := alice.AddSlackChannel(pid, strings.Repeat("é", 80), good, "PIN_FAILED")
		for _, in := range []map[string]any{{"name": ""}, {"events": []string{}}, {"webhookUrl": "http://hooks.slack.com/services/T1/B1/" + secret}} {
			e := alice.ErrorCode(`mutation($id: ID!, $i: UpdateSlackChannelInput!) { updateSlackChannel(id: $id, input: $i) { id } }`, map[string]any{"id": id, "i": in})
			if e.Code() != "BAD_USER_INPUT" {
				t.Errorf("update %v: %s", in, e.Code())
			}
			errs = append(errs, e)
		}
		noSecret(t, srv, secret, errs...)
	})
}

func TestChannelAuthorization(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, fake := start(t, d)
		owner := srv.SignUp("Owner")
		pid := owner.CreateProject("P")
		_, readKey := owner.CreateAPIKey(pid, "READ")
		_, writeKey := owner.CreateAPIKey(pid, "WRITE")
		member, viewer, admin, stranger := srv.SignUp("Member"), srv.SignUp("Viewer"), srv.SignUp("Admin"), srv.SignUp("Stranger")
		for u, role := range map[*testserver.User]string{member: "MEMBER", viewer: "VIEWER", admin: "ADMIN"} {
			owner.MustDo(`mutation($p: ID!, $e: String!, $r: Role!) { addProjectMember(projectId: $p, email: $e, role: $r) { role } }`,
				map[string]any{"p": pid, "e": u.Email, "r": role}, nil)
		}
		url := fake.WebhookURL("T1", "B1", "AuthzS3cret")
		byKey := srv.Client(writeKey).AddSlackChannel(pid, "by-key", url, "PIN_FAILED")
		admin.AddSlackChannel(pid, "by-admin", url, "PIN_FAILED")

		add := `mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`
		input := map[string]any{"p": pid, "i": map[string]any{"name": "x", "webhookUrl": url, "events": []string{"PIN_FAILED"}}}
		toggle := `mutation($id: ID!) { toggleSlackChannel(id: $id, enabled: false) { id } }`
		list := `query($p: ID!) { project(id: $p) { slackChannels { id } } }`
		for name, c := range map[string]*testserver.Client{"READ key": srv.Client(readKey), "member": member.Client, "viewer": viewer.Client} {
			if e := c.ErrorCode(add, input); e.Code() != "FORBIDDEN" {
				t.Errorf("%s adds: %s", name, e.Code())
			}
			if e := c.ErrorCode(toggle, map[string]any{"id": byKey}); e.Code() != "FORBIDDEN" {
				t.Errorf("%s toggles: %s", name, e.Code())
			}
			if name == "READ key" {
				// A READ key reads values, not the project's settings.
				if e := c.ErrorCode(list, map[string]any{"p": pid}); e.Code() != "FORBIDDEN" {
					t.Errorf("READ key lists channels: %s", e.Code())
				}
				continue
			}
			var out struct {
				Project struct{ SlackChannels []struct{ ID string } }
			}
			c.MustDo(list, map[string]any{"p": pid}, &out)
			if len(out.Project.SlackChannels) != 2 {
				t.Errorf("%s reads %d channels", name, len(out.Project.SlackChannels))
			}
		}
		if e := stranger.ErrorCode(add, input); e.Code() != "NOT_FOUND" {
			t.Errorf("stranger adds: %s", e.Code())
		}
		for _, op := range []string{toggle, `mutation($id: ID!) { testSlackChannel(id: $id) { ok } }`, `mutation($id: ID!) { removeSlackChannel(id: $id) }`} {
			if e := stranger.ErrorCode(op, map[string]any{"id": byKey}); e.Code() != "NOT_FOUND" {
				t.Errorf("stranger on %s: %s", op, e.Code())
			}
		}
		// Another project's WRITE key is a stranger too.
		_, otherKey := stranger.CreateAPIKey(stranger.CreateProject("Q"), "WRITE")
		if e := srv.Client(otherKey).ErrorCode(toggle, map[string]any{"id": byKey}); e.Code() != "NOT_FOUND" {
			t.Errorf("foreign key toggles: %s", e.Code())
		}
	})
}

type testResult struct {
	OK         bool `json:"ok"`
	StatusCode *int
	Error      *string
	LatencyMs  int
}

func testChannel(t *testing.T, c *testserver.Client, id string) testResult {
	t.Helper()
	var out struct{ TestSlackChannel testResult }
	c.MustDo(`mutation($id: ID!) { testSlackChannel(id: $id) { ok statusCode error latencyMs } }`, map[string]any{"id": id}, &out)
	return out.TestSlackChannel
}

func TestTestSlackChannel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, fake := start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("My <Project>")
		const secret = "TestButtonS3cret"
		url := fake.WebhookURL("T1", "B1", secret)
		id := alice.AddSlackChannel(pid, "ops", url, "PIN_FAILED")

		r := testChannel(t, alice.Client, id)
		if !r.OK || r.StatusCode == nil || *r.StatusCode != 200 || r.Error != nil || r.LatencyMs < 0 {
			t.Fatalf("healthy webhook: %+v", r)
		}
		reqs := fake.RequestsTo(url)
		if len(reqs) != 1 || reqs[0].Text() != "👋 Test message from Ottr for My &lt;Project&gt;\nChannel: ops\nIf you can see this, notifications to this channel work." {
			t.Fatalf("fake Slack got %+v", reqs)
		}

		fake.RespondTo(url, slacktest.Status(404, "channel_not_found"), slacktest.Hang(), slacktest.ServerError())
		r = testChannel(t, alice.Client, id)
		if r.OK || r.StatusCode == nil || *r.StatusCode != 404 || r.Error == nil || *r.Error != "channel_not_found" {
			t.Errorf("dead webhook: %+v", r)
		}
		r = testChannel(t, alice.Client, id)
		if r.OK || r.StatusCode != nil || r.Error == nil || *r.Error != "timed out" {
			t.Errorf("hanging webhook: %+v", r)
		}
		r = testChannel(t, alice.Client, id)
		if r.OK || *r.StatusCode != 500 || *r.Error != "rollup_error" {
			t.Errorf("server error: %+v", r)
		}
		// A test changes nothing: the channel stays enabled.
		var out struct {
			Project struct{ SlackChannels []channel }
		}
		alice.MustDo(`query($p: ID!) { project(id: $p) { slackChannels { `+channelFields+` } } }`, map[string]any{"p": pid}, &out)
		if c := out.Project.SlackChannels[0]; !c.Enabled || c.DisabledReason != nil {
			t.Errorf("channel after tests: %+v", c)
		}
		noSecret(t, srv, secret, r, out)

		// Five tests in a row, then the channel is rate limited, and the
		// refused test never reaches Slack.
		testChannel(t, alice.Client, id)
		before := len(fake.RequestsTo(url))
		e := alice.ErrorCode(`mutation($id: ID!) { testSlackChannel(id: $id) { ok } }`, map[string]any{"id": id})
		if e.Code() != "RATE_LIMITED" {
			t.Fatalf("sixth test in a row: %s, want RATE_LIMITED", e.Code())
		}
		if secs, _ := e.Extensions["retryAfterSeconds"].(float64); secs < 1 {
			t.Errorf("retryAfterSeconds = %v", e.Extensions["retryAfterSeconds"])
		}
		if after := len(fake.RequestsTo(url)); after != before {
			t.Errorf("a refused test reached Slack: %d requests, want %d", after, before)
		}
	})
}

// SSRF: webhook URLs outside the allowed prefixes are refused, and a
// request never reaches an internal address through DNS or a redirect.
func TestSSRF(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		for _, ip := range [][4]byte{{127, 0, 0, 1}, {169, 254, 169, 254}} {
			t.Run(fmt.Sprintf("slack resolving to %d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3]), func(t *testing.T) {
				t.Parallel()
				srv, _ := start(t, d, func(c *config.Config) { c.Delivery.Resolver = slacktest.Resolver(ip) })
				alice := srv.SignUp("Alice")
				id := alice.AddSlackChannel(alice.CreateProject("P"), "ops", "https://hooks.slack.com/services/T1/B1/SsrfS3cret", "PIN_FAILED")
				r := testChannel(t, alice.Client, id)
				if r.OK || r.StatusCode != nil || r.Error == nil || !strings.Contains(*r.Error, "forbidden address") {
					t.Errorf("result %+v", r)
				}
				noSecret(t, srv, "SsrfS3cret", r)
			})
		}

		t.Run("redirect to an internal address", func(t *testing.T) {
			t.Parallel()
			internal := slacktest.NewServer() // stands for an internal service
			t.Cleanup(internal.Close)
			srv, fake := start(t, d)
			alice := srv.SignUp("Alice")
			url := fake.WebhookURL("T1", "B1", "RedirectS3cret")
			fake.RespondTo(url, slacktest.Redirect(internal.URL+"/latest/meta-data/"))
			r := testChannel(t, alice.Client, alice.AddSlackChannel(alice.CreateProject("P"), "ops", url, "PIN_FAILED"))
			if r.OK || r.StatusCode == nil || *r.StatusCode != 302 {
				t.Errorf("result %+v", r)
			}
			if n := len(internal.Requests()); n != 0 {
				t.Errorf("the redirect was followed: %d requests", n)
			}
		})

		t.Run("refused URLs", func(t *testing.T) {
			t.Parallel()
			srv, _ := start(t, d)
			alice := srv.SignUp("Alice")
			pid := alice.CreateProject("P")
			for _, url := range []string{
				"http://hooks.slack.com/services/T1/B1/x",
				"https://hooks.slack.com.evil.test/services/T1/B1/x",
				"https://hooks.slack.com@127.0.0.1/services/T1/B1/x",
				"http://169.254.169.254/services/T1/B1/x",
				"http://localhost/services/T1/B1/x",
			} {
				e := alice.ErrorCode(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
					map[string]any{"p": pid, "i": map[string]any{"name": "x", "webhookUrl": url, "events": []string{"PIN_FAILED"}}})
				if e.Code() != "BAD_USER_INPUT" || e.Field() != "webhookUrl" {
					t.Errorf("%s: %s %s", url, e.Code(), e.Field())
				}
			}
		})
	})
}
