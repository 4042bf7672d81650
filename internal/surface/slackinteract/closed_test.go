package slackinteract_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// A click on an approval that is no longer pending changes nothing: the
// clicker is told which state it is in, and the message is replaced with
// that final state, without buttons.
func TestSlackClicksOnClosedApprovals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		clock := &testserver.Clock{}
		e := newEnv(t, d, testserver.WithClock(clock))
		executed, executedLink := e.create(map[string]any{"keyPath": "a/executed", "actions": deployActions})
		invalidated, _ := e.create(map[string]any{"keyPath": "a/invalidated", "actions": deployActions})
		locked, lockedLink := e.create(map[string]any{"keyPath": "a/locked", "actions": deployActions, "pin": "2468", "maxPinAttempts": 1})
		expired, _ := e.create(map[string]any{"keyPath": "a/expired", "actions": deployActions, "ttlSeconds": 60})

		if status, err := e.srv.ExecuteLink(executedLink, "deploy", ""); err != nil || status != http.StatusOK {
			t.Fatalf("execute through the link: %d %v", status, err)
		}
		e.write.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "not today") { status } }`, map[string]any{"id": invalidated}, nil)
		if status, err := e.srv.ExecuteLink(lockedLink, "deploy", "0000"); err != nil || status != http.StatusGone {
			t.Fatalf("lock through the link: %d %v", status, err)
		}
		clock.Advance(2 * time.Minute) // past the last one's expiry; Slack's signatures still use the real time

		cases := []struct {
			name, id, status, says, shows string
			events                        []string
		}{
			{"executed", executed, "EXECUTED", "this approval has already been executed", "✅ Deploy — by the link, ",
				[]string{"APPROVAL_CREATED", "APPROVAL_EXECUTED"}},
			{"invalidated", invalidated, "INVALIDATED", "this approval has been invalidated", "❌ Withdrawn: nothing to decide.",
				[]string{"APPROVAL_CREATED", "APPROVAL_INVALIDATED"}},
			{"locked", locked, "LOCKED", "this approval is locked after too many failed PIN attempts", "🔒 Locked after too many failed PIN attempts.",
				[]string{"APPROVAL_CREATED", "PIN_FAILED", "TOKEN_LOCKED"}},
			// The click is an access attempt: it records the expiry, once.
			{"expired", expired, "EXPIRED", "this approval has expired", "⏳ Expired: nothing was decided.",
				[]string{"APPROVAL_CREATED", "APPROVAL_EXPIRED"}},
		}
		for i, c := range cases {
			status, err := e.send(click(e.block(c.id), "deploy", "UALICE", "alice", e.responseURL(i), "too late"))
			if err != nil || status != http.StatusOK {
				t.Fatalf("%s: click answered %d %v", c.name, status, err)
			}
		}
		e.waitReplies(2 * len(cases))
		for i, c := range cases {
			var ephemeral, replaced bool
			replies := e.replies(e.responseURL(i))
			for _, r := range replies {
				body := string(r.Body)
				switch {
				case strings.Contains(body, `"response_type":"ephemeral"`) && strings.Contains(body, "Nothing was changed: "+c.says+"."):
					ephemeral = true
				case strings.Contains(body, `"replace_original":true`) && strings.Contains(body, c.shows) &&
					!strings.Contains(body, `"type":"actions"`) && strings.Contains(body, "Key: a/"+c.name):
					replaced = true
				default:
					t.Fatalf("%s: reply %s", c.name, body)
				}
			}
			if !ephemeral || !replaced || len(replies) != 2 {
				t.Fatalf("%s: ephemeral answer %v, message replaced %v, %d replies", c.name, ephemeral, replaced, len(replies))
			}
			a := e.approval(c.id)
			var types []string
			for _, ev := range a.Events {
				types = append(types, ev.Type)
			}
			if a.Status != c.status || strings.Join(types, ",") != strings.Join(c.events, ",") {
				t.Fatalf("%s: %s with events %v, want %s with %v", c.name, a.Status, types, c.status, c.events)
			}
			if c.name == "executed" && (a.Decision == nil || a.Decision.DecidedBy.Via != "LINK") {
				t.Fatalf("the late click changed the decision: %+v", a.Decision)
			}
		}
	})
}

// Requests that are not clicks Ottr may apply change nothing and post no
// reply: a body that is not a form, one over the limit, and a
// response_url outside OTTR_SLACK_RESPONSE_URL_PREFIXES. The signing
// secret appears in no answer, log line, message, or GraphQL read or error.
func TestSlackRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, _ := e.create(map[string]any{"keyPath": "myapp/deploy", "actions": deployActions})
		good := click(e.block(id), "deploy", "UALICE", "alice", e.responseURL(1), "")
		form := url.Values{"payload": {good}}.Encode()
		now := time.Now()
		for name, want := range map[string]struct {
			body, contentType string
			status            int
		}{
			"json":         {good, "application/json", http.StatusUnsupportedMediaType},
			"no type":      {form, "", http.StatusUnsupportedMediaType},
			"multipart":    {form, "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
			"oversized":    {form + "&pad=" + strings.Repeat("a", 64<<10), "application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
			"other path":   {url.Values{"payload": {click(e.block(id), "deploy", "UALICE", "alice", e.fake.URL+"/services/T1/B1/s1", "")}}.Encode(), "application/x-www-form-urlencoded", http.StatusBadRequest},
			"other host":   {url.Values{"payload": {click(e.block(id), "deploy", "UALICE", "alice", "https://hooks.slack.com/actions/T1/1/tok", "")}}.Encode(), "application/x-www-form-urlencoded", http.StatusBadRequest},
			"dot segments": {url.Values{"payload": {click(e.block(id), "deploy", "UALICE", "alice", e.fake.URL+"/actions/../services/T1/B1/s1", "")}}.Encode(), "application/x-www-form-urlencoded", http.StatusBadRequest},
		} {
			status, err := sendSigned(e.target, want.body, want.contentType, secret, now)
			if err != nil || status != want.status {
				t.Errorf("%s: answered %d %v, want %d", name, status, err, want.status)
			}
		}
		a := e.approval(id)
		if a.Status != "PENDING" || len(a.Events) != 1 {
			t.Fatalf("refused requests changed the approval: %+v", a)
		}

		// The secret is refused back without being echoed, and reads never show it.
		for _, bad := range []string{secret + " " + secret, strings.Repeat(secret, 10)} {
			r := e.owner.Do(`mutation($id: ID!, $s: String) { updateSlackChannel(id: $id, input: {signingSecret: $s}) { id } }`,
				map[string]any{"id": e.channel, "s": bad})
			if len(r.Errors) == 0 || r.Errors[0].Code() != "BAD_USER_INPUT" {
				t.Fatalf("a malformed secret: %+v", r)
			}
			if raw := string(r.Data) + r.Errors[0].Message; strings.Contains(raw, secret) {
				t.Fatalf("the error holds the secret: %s", raw)
			}
		}
		read := e.owner.Do(`query($p: ID!, $c: ID!) {
			project(id: $p) { slackChannels { id name webhookUrlMasked events enabled disabledReason lastError interactive interactionsUrl allowedSlackUserIds } }
			node(id: $c) { ... on SlackChannel { id webhookUrlMasked interactive interactionsUrl } } }`,
			map[string]any{"p": e.project, "c": e.channel})
		if len(read.Errors) > 0 || !strings.Contains(string(read.Data), `"interactive":true`) || strings.Contains(string(read.Data), secret) {
			t.Fatalf("channel read: %s %+v", read.Data, read.Errors)
		}

		// A click that is applied works after all that, and nothing holds the secret.
		if status, err := e.send(good); err != nil || status != http.StatusOK {
			t.Fatalf("click: %d %v", status, err)
		}
		replies := e.waitReplies(1)
		if a := e.approval(id); a.Status != "EXECUTED" {
			t.Fatalf("after the click: %+v", a)
		}
		if len(replies) != 1 || replies[0].Path != "/actions/T1/1/tok" {
			t.Fatalf("replies: %+v", replies)
		}
		for _, r := range e.fake.Requests() {
			if strings.Contains(string(r.Body), secret) {
				t.Fatalf("a message to Slack holds the secret: %s", r.Body)
			}
		}
		if strings.Contains(e.srv.Logs.String(), secret) {
			t.Fatal("the signing secret was logged")
		}
	})
}
