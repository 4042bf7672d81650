package slackinteract_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// env is a server with a project whose one Slack channel is interactive,
// and a fake Slack that receives both its messages and the replies to
// clicks (under /actions/).
type env struct {
	t       *testing.T
	srv     *testserver.Server
	fake    *slacktest.Server
	owner   *testserver.User
	write   *testserver.Client
	project string
	channel string
	target  string // the interactions URL
}

func newEnv(t *testing.T, d store.Dialect, opts ...testserver.Option) *env {
	t.Helper()
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	opts = append([]testserver.Option{func(c *config.Config) {
		c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		c.SlackResponseURLPrefixes = []string{fake.Prefix() + "actions/"}
	}}, opts...)
	srv := testserver.Start(t, d, opts...)
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("My Project")
	_, key := owner.CreateAPIKey(pid, "WRITE")
	var ch struct{ AddSlackChannel struct{ ID string } }
	owner.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
		map[string]any{"p": pid, "i": map[string]any{"name": "ops", "webhookUrl": fake.WebhookURL("T1", "B1", "s1"),
			"events": []string{"APPROVAL_CREATED", "APPROVAL_EXECUTED"}, "signingSecret": secret}}, &ch)
	return &env{t: t, srv: srv, fake: fake, owner: owner, write: srv.Client(key), project: pid,
		channel: ch.AddSlackChannel.ID, target: srv.URL + "/slack/interactions/" + pid}
}

var deployActions = []map[string]any{
	{"key": "deploy", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
	{"key": "cancel", "value": "rejected", "label": "Cancel", "style": "DANGER"},
}

// create makes an approval with input and returns its id and link.
func (e *env) create(input map[string]any) (id, link string) {
	e.t.Helper()
	var out struct {
		CreateApproval struct {
			URL      string
			Approval struct{ ID string }
		}
	}
	e.write.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url approval { id } } }`,
		map[string]any{"p": e.project, "i": input}, &out)
	return out.CreateApproval.Approval.ID, out.CreateApproval.URL
}

// block is the block_id of an approval's buttons in the env's channel.
func (e *env) block(approvalID string) string { return "ottr:" + approvalID + ":" + e.channel }

// responseURL is a response_url of the fake Slack, one per click.
func (e *env) responseURL(n int) string { return fmt.Sprintf("%s/actions/T1/%d/tok", e.fake.URL, n) }

// send posts payload as Slack does, signed now with the channel's secret;
// it may run on any goroutine.
func (e *env) send(payload string) (int, error) {
	return sendSigned(e.target, url.Values{"payload": {payload}}.Encode(), "application/x-www-form-urlencoded", secret, time.Now())
}

// sendSigned posts body with contentType, signed with key at the given time
// ("v0:{timestamp}:{body}", HMAC-SHA256), and returns the status.
func sendSigned(target, body, contentType, key string, at time.Time) (int, error) {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("v0:" + ts + ":" + body))
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(answer), secret) {
		return resp.StatusCode, fmt.Errorf("the answer holds the signing secret: %s", answer)
	}
	return resp.StatusCode, nil
}

// replies returns the replies the fake Slack received at a response_url.
func (e *env) replies(responseURL string) []slacktest.Request {
	return e.fake.RequestsTo(responseURL)
}

// waitReplies waits until n replies in all arrived under /actions/.
func (e *env) waitReplies(n int) []slacktest.Request {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []slacktest.Request
		for _, r := range e.fake.Requests() {
			if strings.HasPrefix(r.Path, "/actions/") {
				got = append(got, r)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d replies to response URLs, want %d", len(got), n)
		}
		// Any request to the fake Slack wakes this up.
		_, _ = e.fake.Wait(len(e.fake.Requests())+1, time.Until(deadline))
	}
}

type decision struct {
	Status   string
	Events   []struct{ Type string }
	Decision *struct {
		Comment   *string
		Action    struct{ Key string }
		DecidedBy struct {
			Via                        string
			SlackUserID, SlackUserName *string
			User                       *struct{ Name string }
		}
	}
}

// approval reads an approval's status, events and decision as the owner.
func (e *env) approval(id string) decision {
	e.t.Helper()
	var out struct{ Approval decision }
	e.owner.MustDo(`query($id: ID!) { approval(id: $id) { status events { type }
		decision { comment action { key } decidedBy { via slackUserId slackUserName user { name } } } } }`,
		map[string]any{"id": id}, &out)
	return out.Approval
}
