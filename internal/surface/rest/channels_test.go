package rest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

type channelOut struct {
	ID, Name       string
	WebhookURL     string `json:"webhook_url"`
	Events         []string
	Enabled        bool
	DisabledReason *string `json:"disabled_reason"`
	UpdatedAt      string  `json:"updated_at"`
}

func withSlack(t *testing.T, d store.Dialect) (*fixture, *slacktest.Server) {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	return setup(t, d, func(c *config.Config) { c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix()) }), fake
}

// A setup script that puts a project's channels twice ends in the same
// state, without a CONFLICT: the second run writes nothing.
func TestChannelSetupTwiceEndsInTheSameState(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f, fake := withSlack(t, d)
		hook := fake.WebhookURL("T1", "B1", "S3cret")
		body := fmt.Sprintf(`{"webhook_url": %q, "events": ["approval_created", "approval_executed"]}`, hook)
		setupRun := func() (statuses []int, list []byte) {
			for _, name := range []string{"deploys", "ops%20room"} {
				r := f.do("PUT", "/v1/slack/channels/"+name, f.write, body)
				statuses = append(statuses, r.Status)
			}
			return statuses, f.do("GET", "/v1/slack/channels", f.write, "").Body
		}
		first, before := setupRun()
		again, after := setupRun()
		if fmt.Sprint(first) != "[201 201]" || fmt.Sprint(again) != "[200 200]" {
			t.Fatalf("statuses: first run %v, second %v", first, again)
		}
		if !bytes.Equal(before, after) {
			t.Fatalf("the second run changed the channels:\n%s\n%s", before, after)
		}
		var list struct{ Channels []channelOut }
		f.do("GET", "/v1/slack/channels", f.write, "").decode(t, http.StatusOK, &list)
		if len(list.Channels) != 2 || list.Channels[0].Name != "deploys" || list.Channels[1].Name != "ops room" ||
			fmt.Sprint(list.Channels[0].Events) != "[approval_created approval_executed]" || !list.Channels[0].Enabled ||
			strings.Contains(list.Channels[0].WebhookURL, "S3cret") {
			t.Fatalf("channels: %+v", list.Channels)
		}

		// Changing one field changes only it; the URL stays.
		var ch channelOut
		f.do("PUT", "/v1/slack/channels/deploys", f.write, `{"enabled": false}`).decode(t, http.StatusOK, &ch)
		if ch.Enabled || fmt.Sprint(ch.Events) != "[approval_created approval_executed]" || ch.WebhookURL != list.Channels[0].WebhookURL {
			t.Fatalf("after disabling: %+v", ch)
		}
		// A new channel takes every event and starts enabled.
		f.do("PUT", "/v1/slack/channels/all", f.write, fmt.Sprintf(`{"webhook_url": %q}`, fake.WebhookURL("T1", "B2", "x"))).decode(t, http.StatusCreated, &ch)
		if !ch.Enabled || len(ch.Events) != len(event.AllTypes) {
			t.Fatalf("new channel with defaults: %+v", ch)
		}
		// Without a URL there is nothing to create; every problem is listed.
		e := f.do("PUT", "/v1/slack/channels/nourl", f.write, `{"events": ["Approval_Created"]}`).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "webhook_url")
		if len(e.Error.Problems) != 2 || e.Error.Problems[1].Field != "events" || !strings.Contains(e.Error.Problems[1].Message, `"Approval_Created"`) ||
			!strings.Contains(e.Error.Problems[0].Message, "webhook_url is required") {
			t.Errorf("problems: %+v", e.Error)
		}

		// The test message goes to the channel's webhook.
		var res struct {
			OK         bool
			StatusCode *int `json:"status_code"`
		}
		f.do("POST", "/v1/slack/channels/ops%20room/test", f.write, "").decode(t, http.StatusOK, &res)
		if !res.OK || res.StatusCode == nil || *res.StatusCode != 200 || len(fake.RequestsTo(hook)) != 1 {
			t.Fatalf("test message: %+v, %d requests", res, len(fake.RequestsTo(hook)))
		}

		// A READ key neither reads nor changes channels.
		f.do("GET", "/v1/slack/channels", f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		f.do("PUT", "/v1/slack/channels/deploys", f.read, `{"enabled": true}`).expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		f.do("DELETE", "/v1/slack/channels/deploys", f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")

		if r := f.do("DELETE", "/v1/slack/channels/deploys", f.write, ""); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
		f.do("DELETE", "/v1/slack/channels/deploys", f.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		f.do("POST", "/v1/slack/channels/deploys/test", f.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
	})
}

// Scripts putting the same new channel at once create it once.
func TestConcurrentChannelPutsCreateOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f, fake := withSlack(t, d)
		body := fmt.Sprintf(`{"webhook_url": %q}`, fake.WebhookURL("T1", "B1", "S3cret"))
		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = do(t, f.srv.URL, "PUT", "/v1/slack/channels/race", f.write, body).Status
			}()
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusOK:
			default:
				t.Fatalf("statuses %v", statuses)
			}
		}
		var list struct{ Channels []channelOut }
		f.do("GET", "/v1/slack/channels", f.write, "").decode(t, http.StatusOK, &list)
		if created != 1 || len(list.Channels) != 1 {
			t.Fatalf("statuses %v, channels %+v", statuses, list.Channels)
		}
	})
}

func TestListApprovalsFiltersAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		var ids []string
		for i := range 5 {
			c := f.create(fmt.Sprintf(`{"key_path": "app/%d/deploy", "value": "go", "ref_id": "ref-%d"}`, i, i%2))
			ids = append(ids, c.ID)
		}
		f.do("POST", "/v1/approvals/"+ids[0]+"/invalidate", f.write, "").decode(t, http.StatusOK, nil)

		type page struct {
			Approvals  []approvalJSON
			NextCursor *string `json:"next_cursor"`
		}
		list := func(query string) page {
			t.Helper()
			var p page
			f.do("GET", "/v1/approvals"+query, f.read, "").decode(t, http.StatusOK, &p)
			return p
		}
		idsOf := func(p page) string {
			var out []string
			for _, a := range p.Approvals {
				out = append(out, a.ID)
			}
			return strings.Join(out, ",")
		}
		newestFirst := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
		if got := idsOf(list("")); got != strings.Join(newestFirst, ",") {
			t.Fatalf("all: %s", got)
		}
		// Paging with a cursor walks the same list.
		var walked []string
		cursor := ""
		for pages := 0; ; pages++ {
			q := "?limit=2"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p := list(q)
			walked = append(walked, idsOf(p))
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
			if pages > 5 {
				t.Fatal("paging does not end")
			}
		}
		if strings.Join(walked, ",") != strings.Join(newestFirst, ",") || len(walked) != 3 {
			t.Fatalf("pages: %v", walked)
		}
		if got := idsOf(list("?status=invalidated")); got != ids[0] {
			t.Errorf("invalidated: %s", got)
		}
		if got := idsOf(list("?status=pending&ref_id=ref-0")); got != ids[4]+","+ids[2] {
			t.Errorf("pending ref-0: %s", got)
		}
		if got := idsOf(list("?key_prefix=app/3/")); got != ids[3] {
			t.Errorf("prefix app/3/: %s", got)
		}

		// Every problem at once, with the values as sent.
		e := f.do("GET", "/v1/approvals?status=PENDING&limit=500&keyPrefix=app", f.read, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "")
		fields := map[string]string{}
		for _, p := range e.Error.Problems {
			fields[p.Field] = p.Message
		}
		if len(fields) != 3 || !strings.Contains(fields["status"], `"PENDING"`) || !strings.Contains(fields["limit"], `"500"`) ||
			!strings.Contains(fields["keyPrefix"], "key_prefix") {
			t.Errorf("problems: %+v", e.Error.Problems)
		}
		f.do("GET", "/v1/approvals?cursor=nonsense", f.read, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "cursor")
	})
}

func TestGetProjectNamesTheKeysProject(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		for key, scope := range map[string]string{f.write: "write", f.read: "read"} {
			var p struct {
				ID, Name  string
				CreatedAt time.Time `json:"created_at"`
				KeyScope  string    `json:"key_scope"`
			}
			f.do("GET", "/v1/project", key, "").decode(t, http.StatusOK, &p)
			if p.ID != f.pid || p.Name != "ci" || p.KeyScope != scope || p.CreatedAt.IsZero() {
				t.Errorf("%s key: %+v", scope, p)
			}
		}
		f.do("GET", "/v1/project", f.owner.AccessToken, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
	})
}

// The answers of the channel, list and project endpoints, successes and
// errors, match the OpenAPI document (ajv, as TestResponsesMatchOpenAPI).
func TestChannelAndListAnswersMatchOpenAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f, fake := withSlack(t, d)
		var answers []recorded
		record := func(method, template, path, credential, body string) {
			r := f.do(method, path, credential, body)
			if r.Status == http.StatusNoContent {
				if len(r.Body) != 0 {
					t.Errorf("%s %s: 204 with a body %q", method, path, r.Body)
				}
				return // no body to check
			}
			answers = append(answers, recorded{method, template, r.Status, r.Body})
		}
		const channels, one, test = "/v1/slack/channels", "/v1/slack/channels/{name}", "/v1/slack/channels/{name}/test"
		hook := fmt.Sprintf(`{"webhook_url": %q, "events": ["approval_created"]}`, fake.WebhookURL("T1", "B1", "S3cret"))
		record("PUT", one, "/v1/slack/channels/ops", f.write, hook)
		record("PUT", one, "/v1/slack/channels/ops", f.write, `{"enabled": false}`)
		record("PUT", one, "/v1/slack/channels/new", f.write, `{"events": ["nope"]}`)
		record("PUT", one, "/v1/slack/channels/ops", f.read, `{}`)
		record("GET", channels, "/v1/slack/channels", f.write, "")
		record("GET", channels, "/v1/slack/channels", "", "")
		record("POST", test, "/v1/slack/channels/ops/test", f.write, "")
		record("POST", test, "/v1/slack/channels/none/test", f.write, "")
		record("DELETE", one, "/v1/slack/channels/ops", f.write, "")
		record("DELETE", one, "/v1/slack/channels/ops", f.write, "")
		f.create(`{"key_path": "a/b", "value": "go"}`)
		f.create(`{"key_path": "a/c", "value": "go"}`)
		record("GET", "/v1/approvals", "/v1/approvals?limit=1", f.read, "")
		record("GET", "/v1/approvals", "/v1/approvals?status=pending&key_prefix=a/&ref_id=x", f.read, "")
		record("GET", "/v1/approvals", "/v1/approvals?status=open", f.read, "")
		record("GET", "/v1/project", "/v1/project", f.read, "")
		record("GET", "/v1/project", "/v1/project", f.owner.AccessToken, "")

		statuses := map[int]bool{}
		for _, a := range answers {
			statuses[a.Status] = true
		}
		for _, s := range []int{200, 201, 400, 401, 403, 404} {
			if !statuses[s] {
				t.Errorf("the requests got no %d answer to check", s)
			}
		}
		checkOpenAPI(t, answers)
	})
}
