package slackinteract_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// sign sends body as Slack sends an interaction: form-encoded payload,
// signed with v0 HMAC-SHA256 over "v0:{timestamp}:{body}".
func sign(t *testing.T, target, payload, key string, at time.Time) *http.Response {
	t.Helper()
	body := url.Values{"payload": {payload}}.Encode()
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("v0:" + ts + ":" + body))
	return post(t, target, body, ts, "v0="+hex.EncodeToString(m.Sum(nil)))
}

func post(t *testing.T, target, body, ts, sig string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post interaction: %v", err)
	}
	resp.Body.Close()
	return resp
}

// click is a block_actions payload for a button of an approval.
func click(blockID, action, userID, userName, responseURL, comment string) string {
	p := map[string]any{
		"type": "block_actions", "user": map[string]any{"id": userID, "username": userName, "name": userName},
		"response_url": responseURL,
		"actions":      []map[string]any{{"type": "button", "block_id": blockID, "action_id": action, "value": action}},
		"state":        map[string]any{"values": map[string]any{"ottr_comment": map[string]any{"comment": map[string]any{"type": "plain_text_input", "value": comment}}}},
	}
	raw, _ := json.Marshal(p)
	return string(raw)
}

func TestSlackClicksDecide(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		srv := testserver.Start(t, d, func(c *config.Config) {
			c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
			c.SlackResponseURLPrefixes = []string{fake.Prefix() + "actions/"}
		})
		owner := srv.SignUp("Owner")
		pid := owner.CreateProject("My Project")
		_, key := owner.CreateAPIKey(pid, "WRITE")
		write := srv.Client(key)
		webhook := fake.WebhookURL("T1", "B1", "s1")
		var ch struct {
			AddSlackChannel struct {
				ID              string
				Interactive     bool
				InteractionsURL *string `json:"interactionsUrl"`
			}
		}
		owner.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id interactive interactionsUrl } }`,
			map[string]any{"p": pid, "i": map[string]any{"name": "ops", "webhookUrl": webhook, "events": []string{"APPROVAL_CREATED", "APPROVAL_EXECUTED"},
				"signingSecret": secret, "allowedSlackUserIds": []string{"UALICE", "UBOB"}}}, &ch)
		c := ch.AddSlackChannel
		if !c.Interactive || c.InteractionsURL == nil || *c.InteractionsURL != srv.URL+"/slack/interactions/"+pid {
			t.Fatalf("channel: %+v", c)
		}
		create := func(input map[string]any) string {
			var out struct {
				CreateApproval struct{ Approval struct{ ID string } }
			}
			write.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { approval { id } } }`,
				map[string]any{"p": pid, "i": input}, &out)
			return out.CreateApproval.Approval.ID
		}
		id := create(map[string]any{"keyPath": "myapp/deploy", "info": "Deploy to production?", "refId": "run-42", "actions": []map[string]any{
			{"key": "deploy", "value": "approved", "label": "Deploy", "style": "PRIMARY"}, {"key": "cancel", "value": "rejected", "label": "Cancel", "style": "DANGER"}}})
		pinID := create(map[string]any{"keyPath": "myapp/pin", "value": "v", "pin": "1234"})
		reqs, err := fake.Wait(2, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reqs {
			body := string(r.Body)
			switch {
			case strings.Contains(r.Text(), "myapp/deploy"):
				if !strings.HasPrefix(r.Text(), "🔔 New approval request in My Project\nKey: myapp/deploy\nInfo: Deploy to production?\nExpires: ") ||
					!strings.Contains(body, `"block_id":"ottr:`+id+`:`+c.ID+`"`) || !strings.Contains(body, `"action_id":"deploy"`) ||
					!strings.Contains(body, `"style":"primary"`) || !strings.Contains(body, "Ref: run-42") || strings.Contains(body, `"type":"input"`) {
					t.Fatalf("created message: %s", body)
				}
			case strings.Contains(r.Text(), "myapp/pin"):
				if strings.Contains(body, `"type":"actions"`) || !strings.Contains(body, "needs a PIN") {
					t.Fatalf("PIN message: %s", body)
				}
			}
		}
		_ = pinID
		target := *c.InteractionsURL
		respURL := fake.URL + "/actions/T1/1/abc"
		block := "ottr:" + id + ":" + c.ID
		now := time.Now()

		// Refused, nothing changes: forged, stale, wrong type, unknown channel, unknown action, bad bytes, restricted user.
		good := click(block, "deploy", "UALICE", "alice", respURL, "lgtm")
		for name, status := range map[string]int{
			"forged":    sign(t, target, good, "not-the-secret", now).StatusCode,
			"stale":     sign(t, target, good, secret, now.Add(-6*time.Minute)).StatusCode,
			"unsigned":  post(t, target, url.Values{"payload": {good}}.Encode(), strconv.FormatInt(now.Unix(), 10), "").StatusCode,
			"channel":   sign(t, target, click("ottr:"+id+":00000000-0000-0000-0000-000000000000", "deploy", "UALICE", "alice", respURL, ""), secret, now).StatusCode,
			"action":    sign(t, target, click(block, "nope", "UALICE", "alice", respURL, ""), secret, now).StatusCode,
			"malformed": sign(t, target, "{not json", secret, now).StatusCode,
			"nul":       sign(t, target, click(block, "deploy", "UALICE", "al\x00ice", respURL, ""), secret, now).StatusCode,
		} {
			want := map[string]int{"forged": 401, "stale": 401, "unsigned": 401, "channel": 404, "action": 400, "malformed": 400, "nul": 400}[name]
			if status != want {
				t.Errorf("%s: status %d, want %d", name, status, want)
			}
		}
		before := len(fake.Requests())
		if r := sign(t, target, click(block, "deploy", "UMALLORY", "mallory", respURL, ""), secret, now); r.StatusCode != 200 {
			t.Fatalf("restricted user: %d", r.StatusCode)
		}
		reqs, err = fake.Wait(before+1, 10*time.Second)
		if err != nil || !strings.Contains(string(reqs[before].Body), "not allowed") || !strings.Contains(string(reqs[before].Body), `"ephemeral"`) {
			t.Fatalf("refusal: %v %s", err, reqs[before].Body)
		}
		var st struct{ Approval struct{ Status string } }
		owner.MustDo(`query($id: ID!) { approval(id: $id) { status } }`, map[string]any{"id": id}, &st)
		if st.Approval.Status != "PENDING" {
			t.Fatalf("refused clicks changed the approval: %s", st.Approval.Status)
		}

		// A click decides; the message is replaced with the decider; a replay changes nothing.
		before = len(fake.Requests())
		ts := now.Add(time.Second)
		if r := sign(t, target, good, secret, ts); r.StatusCode != 200 {
			t.Fatalf("click: %d", r.StatusCode)
		}
		if r := sign(t, target, good, secret, ts); r.StatusCode != http.StatusConflict {
			t.Fatalf("replay: %d", r.StatusCode)
		}
		var dec struct {
			Approval struct {
				Status   string
				Decision struct {
					Comment   string
					DecidedBy struct{ Via, SlackUserID, SlackUserName string }
				}
			}
		}
		owner.MustDo(`query($id: ID!) { approval(id: $id) { status decision { comment decidedBy { via slackUserId slackUserName } } } }`, map[string]any{"id": id}, &dec)
		if dec.Approval.Status != "EXECUTED" || dec.Approval.Decision.DecidedBy.Via != "SLACK" || dec.Approval.Decision.DecidedBy.SlackUserID != "UALICE" ||
			dec.Approval.Decision.Comment != "" { // the message has no comment field: a state that claims one is ignored
			t.Fatalf("after the click: %+v", dec.Approval)
		}
		// The replacement and the "Approval executed" message with its extra line.
		reqs, err = fake.Wait(before+2, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var replaced, executed bool
		for _, r := range reqs[before:] {
			body := string(r.Body)
			if strings.Contains(body, `"replace_original":true`) && strings.Contains(body, "Deploy — by @alice, ") && !strings.Contains(body, `"type":"actions"`) {
				replaced = true
			}
			if strings.HasPrefix(r.Text(), "✅ Approval executed in My Project\nKey: myapp/deploy\nAction: deploy\nDecided by: @alice") {
				executed = true
			}
		}
		if !replaced || !executed {
			t.Fatalf("replaced %v executed %v: %d requests", replaced, executed, len(reqs)-before)
		}
		if strings.Contains(srv.Logs.String(), secret) {
			t.Fatal("the signing secret was logged")
		}
	})
}
