package slack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
)

const secret = "S3cr3tT0k3nXyz"

// newFake starts a fake Slack and a client that allows it.
func newFake(t *testing.T, opts ...Option) (*slacktest.Server, *Client) {
	t.Helper()
	srv := slacktest.NewServer()
	t.Cleanup(srv.Close)
	return srv, NewClient(Validator{Prefixes: []string{defaultPrefix, srv.Prefix()}}, opts...)
}

func noSecret(t *testing.T, r Result) {
	t.Helper()
	if r.Err != nil && strings.Contains(r.Err.Error(), secret) {
		t.Errorf("error reveals the webhook secret: %v", r.Err)
	}
}

func TestPostDeliversPayload(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	p, err := Message(event.Event{Type: event.ApprovalExpired, KeyPath: "myapp/deploy"}, Details{ProjectName: "My Project"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	url := srv.WebhookURL("T1", "B1", secret)
	r := c.Post(context.Background(), url, body)
	if r.Err != nil || r.StatusCode != 200 || r.Body != "ok" || r.Latency <= 0 {
		t.Fatalf("result %+v", r)
	}
	if got := Classify(r); got.Kind != Delivered {
		t.Errorf("classified %v", got)
	}
	reqs := srv.RequestsTo(url)
	if len(reqs) != 1 || reqs[0].Text() != p.Text || !strings.HasPrefix(reqs[0].Header.Get("Content-Type"), "application/json") {
		t.Errorf("received %+v", reqs)
	}
}

func TestPostClassifiesSlackAnswers(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	cases := []struct {
		answer     slacktest.Behavior
		status     int
		kind       Kind
		reason     string
		retryAfter time.Duration
	}{
		{slacktest.OK(), 200, Delivered, "ok", 0},
		{slacktest.Status(400, "invalid_payload"), 400, BadPayload, "invalid_payload", 0},
		{slacktest.Status(400, "no_text"), 400, BadPayload, "no_text", 0},
		{slacktest.Status(403, "invalid_token"), 403, DeadWebhook, "invalid_token", 0},
		{slacktest.Status(403, "action_prohibited"), 403, DeadWebhook, "action_prohibited", 0},
		{slacktest.Status(403, "team_disabled"), 403, DeadWebhook, "team_disabled", 0},
		{slacktest.Status(404, "no_service"), 404, DeadWebhook, "no_service", 0},
		{slacktest.Status(404, "channel_not_found"), 404, DeadWebhook, "channel_not_found", 0},
		{slacktest.Status(404, "no_team"), 404, DeadWebhook, "no_team", 0},
		{slacktest.Status(410, "channel_is_archived"), 410, DeadWebhook, "channel_is_archived", 0},
		{slacktest.RateLimited(30 * time.Second), 429, RateLimited, "rate_limited", 30 * time.Second},
		{slacktest.RateLimited(0), 429, RateLimited, "rate_limited", 0},
		{slacktest.ServerError(), 500, Retryable, "status 500: rollup_error", 0},
	}
	for i, tc := range cases {
		url := srv.WebhookURL("T1", "B1", secret+string(rune('a'+i)))
		srv.RespondTo(url, tc.answer)
		r := c.Post(context.Background(), url, []byte(`{"text":"x"}`))
		noSecret(t, r)
		got := Classify(r)
		if r.StatusCode != tc.status || got.Kind != tc.kind || got.Reason != tc.reason || r.RetryAfter != tc.retryAfter {
			t.Errorf("case %d: status %d, %v %q, retry after %s; want %d, %v %q, %s",
				i, r.StatusCode, got.Kind, got.Reason, r.RetryAfter, tc.status, tc.kind, tc.reason, tc.retryAfter)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		" 1 ":                           time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"99999999999":                   24 * time.Hour,
		"Wed, 01 Jan 2025 12:01:30 GMT": 90 * time.Second,
		"Wed, 01 Jan 2025 11:59:00 GMT": 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPostRetryAfterDate(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	srv.Respond(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	})
	r := c.Post(context.Background(), srv.WebhookURL("T1", "B1", secret), []byte(`{"text":"x"}`))
	if r.RetryAfter < 58*time.Minute || r.RetryAfter > time.Hour {
		t.Errorf("RetryAfter = %s", r.RetryAfter)
	}
}

func TestPostCapsBody(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	// "é" is two bytes; 1 KiB ends in the middle of one at odd offsets.
	srv.Respond(slacktest.Status(500, "x"+strings.Repeat("é", 100<<10)))
	r := c.Post(context.Background(), srv.WebhookURL("T1", "B1", secret), []byte(`{"text":"x"}`))
	if r.Err != nil || r.StatusCode != 500 {
		t.Fatalf("result: %d %v", r.StatusCode, r.Err)
	}
	if len(r.Body) > 1024 || len(r.Body) < 1020 || !strings.HasPrefix(r.Body, "xé") || strings.ContainsRune(r.Body, '\uFFFD') {
		t.Errorf("body: %d bytes, ends %q", len(r.Body), r.Body[len(r.Body)-4:])
	}
}

func TestPostDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	from, target := srv.WebhookURL("T1", "B1", secret), srv.WebhookURL("T1", "B1", "target")
	srv.RespondTo(from, slacktest.Redirect(target))
	r := c.Post(context.Background(), from, []byte(`{"text":"x"}`))
	noSecret(t, r)
	if r.StatusCode != http.StatusFound || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
	if got := Classify(r); got.Kind != Redirected {
		t.Errorf("classified %v", got)
	}
	if n := len(srv.RequestsTo(target)); n != 0 {
		t.Errorf("redirect target hit %d times", n)
	}
}

func TestPostTimesOut(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, WithTimeout(200*time.Millisecond))
	srv.Respond(slacktest.Hang())
	start := time.Now()
	r := c.Post(context.Background(), srv.WebhookURL("T1", "B1", secret), []byte(`{"text":"x"}`))
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("took %s", elapsed)
	}
	noSecret(t, r)
	if r.Err == nil || r.StatusCode != 0 {
		t.Fatalf("result %+v", r)
	}
	if got := Classify(r); got.Kind != Retryable {
		t.Errorf("classified %v", got)
	}
	if !strings.Contains(r.Err.Error(), "/services/T1/B1/••••") {
		t.Errorf("error does not name the masked URL: %v", r.Err)
	}
}

func TestPostHonoursContext(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	srv.Respond(slacktest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := c.Post(ctx, srv.WebhookURL("T1", "B1", secret), []byte(`{"text":"x"}`))
	noSecret(t, r)
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", r.Err)
	}
}

func TestPostRefusesInternalHosts(t *testing.T) {
	t.Parallel()
	srv := slacktest.NewServer()
	t.Cleanup(srv.Close)
	local := strings.Replace(srv.WebhookURL("T1", "B1", secret), "127.0.0.1", "localhost", 1)
	localPrefix := strings.Replace(srv.Prefix(), "127.0.0.1", "localhost", 1)

	// Only Slack allowed: the fake Slack on localhost is never reached.
	for _, url := range []string{local, "http://169.254.169.254/services/T1/B1/" + secret} {
		r := NewClient(Validator{}).Post(context.Background(), url, []byte(`{"text":"x"}`))
		noSecret(t, r)
		if r.Err == nil || r.StatusCode != 0 {
			t.Errorf("%s: result %+v", Mask(url), r)
		}
		if got := Classify(r); got.Kind != DeadWebhook || got.Reason != ReasonInvalidURL {
			t.Errorf("%s: classified %+v", Mask(url), got)
		}
	}

	// Configured explicitly, it is reached.
	r := NewClient(Validator{Prefixes: []string{defaultPrefix, localPrefix}}).Post(context.Background(), local, []byte(`{"text":"x"}`))
	if r.Err != nil || r.StatusCode != 200 {
		t.Fatalf("allowed local server: %+v", r)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("fake Slack got %d requests, want 1", n)
	}
}

func TestPostConnectionErrorIsRedacted(t *testing.T) {
	t.Parallel()
	srv := slacktest.NewServer()
	url := srv.WebhookURL("T1", "B1", secret)
	c := NewClient(Validator{Prefixes: []string{srv.Prefix()}})
	srv.Close()
	r := c.Post(context.Background(), url, []byte(`{"text":"x"}`))
	noSecret(t, r)
	if r.Err == nil || Classify(r).Kind != Retryable {
		t.Errorf("result %+v", r)
	}
	if reason := Classify(r).Reason; strings.Contains(reason, secret) {
		t.Errorf("reason reveals the secret: %s", reason)
	}
}

func TestPostRefusesSlackHostResolvingInternally(t *testing.T) {
	t.Parallel()
	for _, ip := range [][4]byte{{127, 0, 0, 1}, {169, 254, 169, 254}, {10, 0, 0, 7}} {
		c := NewClient(Validator{}, WithResolver(slacktest.Resolver(ip)), WithTimeout(2*time.Second))
		r := c.Post(context.Background(), "https://hooks.slack.com/services/T1/B1/"+secret, []byte(`{"text":"x"}`))
		noSecret(t, r)
		if !errors.Is(r.Err, ErrForbiddenAddress) {
			t.Errorf("%v: err = %v, want ErrForbiddenAddress", ip, r.Err)
		}
		if got := Classify(r); got.Kind != Retryable {
			t.Errorf("%v: classified %+v", ip, got)
		}
	}
}
