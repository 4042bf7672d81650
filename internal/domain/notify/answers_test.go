package notify_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

func TestRateLimitedWithRetryAfterIsSnoozed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		e.fake.RespondTo(url, slacktest.RateLimited(time.Second), slacktest.OK())
		e.record(event.ApprovalExpired, "k")
		del := e.settled(id, 1, 20*time.Second)[0]
		if del.Status != "DELIVERED" || del.Attempts != 2 {
			t.Errorf("delivery %+v", del)
		}
		reqs := e.fake.RequestsTo(url)
		if len(reqs) != 2 || reqs[1].At.Sub(reqs[0].At) < time.Second {
			t.Errorf("requests %+v", reqs)
		}
		a := e.attempts(del.ID)
		if len(a) != 2 || *a[0].StatusCode != 429 || *a[0].Body != "rate_limited" || a[0].Outcome != "rate_limited" || *a[1].StatusCode != 200 {
			t.Errorf("attempts %+v", a)
		}
		// A 429 is no failed attempt: the job completed at its first
		// counted attempt, with no error recorded.
		if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "completed" || jobs[0].Attempt != 1 || jobs[0].Errors != 0 {
			t.Errorf("jobs %+v", jobs)
		}
	})
}

func TestRateLimitedWithoutRetryAfterWaitsAMinute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		e.fake.RespondTo(url, slacktest.RateLimited(0))
		before := time.Now()
		e.record(event.ApprovalExpired, "k")
		var del delivery
		eventually(t, 20*time.Second, func() bool {
			ds := e.deliveries(id)
			if len(ds) == 1 {
				del = ds[0]
			}
			return del.Status == "RETRYING"
		}, func() string { return fmt.Sprintf("delivery %+v", del) })
		// 60 s give or take 10 %, from the answer.
		wait := del.NextAttemptAt.Sub(before)
		if wait < 54*time.Second || wait > 67*time.Second || del.Attempts != 1 || *del.LastStatusCode != 429 || *del.LastError != "rate_limited" {
			t.Errorf("delivery %+v, next attempt in %s", del, wait)
		}
		eventually(t, 10*time.Second, func() bool {
			jobs := e.jobsOf(del.ID)
			return len(jobs) == 1 && jobs[0].State == "scheduled" && jobs[0].Attempt == 0 && jobs[0].Errors == 0
		}, func() string { return fmt.Sprintf("jobs %+v", e.jobsOf(del.ID)) })
		if st := e.state(id); !st.Enabled || *st.LastDeliveryStatus != "RETRYING" {
			t.Errorf("channel %+v", st)
		}
	})
}

// A webhook that answers 429 for ever does not keep its delivery alive for
// ever: once the retry window has passed since the delivery was enqueued,
// the next 429 fails it, and the channel stays as it is.
func TestRateLimitedPastTheRetryWindowFails(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.RateLimitedFor = 2 * time.Second })
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		e.fake.RespondTo(url, slacktest.RateLimited(time.Second)) // the last answer repeats
		e.record(event.ApprovalExpired, "k")
		del := e.settled(id, 1, 30*time.Second)[0]
		if del.Status != "FAILED" || *del.LastStatusCode != 429 || *del.LastError != "rate_limited: still rate limited 2s after it was enqueued" || del.NextAttemptAt != nil {
			t.Errorf("delivery %+v", del)
		}
		// Snoozed while the window lasted (an answer a second), then failed.
		if a := e.attempts(del.ID); len(a) < 2 || len(a) > 5 || len(e.fake.RequestsTo(url)) != len(a) {
			t.Errorf("%d attempts, %d requests", len(a), len(e.fake.RequestsTo(url)))
		}
		if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "cancelled" {
			t.Errorf("jobs %+v", jobs)
		}
		if st := e.state(id); !st.Enabled || st.DisabledReason != nil || *st.LastDeliveryStatus != "FAILED" {
			t.Errorf("channel %+v", st)
		}

		// A redelivery has a window of its own: its first 429 snoozes it
		// again rather than failing it at once.
		requests := len(e.fake.RequestsTo(url))
		e.redeliver(del.ID)
		eventually(t, 20*time.Second, func() bool {
			return len(e.fake.RequestsTo(url)) > requests
		}, func() string { return "no request after the redelivery" })
		// An attempt counts from its start, before its request; the
		// delivery leaves PENDING when the answer is recorded.
		var again delivery
		eventually(t, 5*time.Second, func() bool {
			again = e.deliveries(id)[0]
			return again.Status != "PENDING"
		}, func() string { return fmt.Sprintf("delivery %+v", again) })
		if again.Status != "RETRYING" || again.NextAttemptAt == nil || again.Attempts <= del.Attempts {
			t.Errorf("redelivered delivery after its first 429: %+v", again)
		}
		if a := e.attempts(del.ID); len(a) <= requests || a[requests].Outcome != "rate_limited" {
			t.Errorf("attempts (%d before the redelivery): %+v", requests, a)
		}
	})
}

func TestServerErrorsAreRetriedWithBackoffThenFail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		const base = 100 * time.Microsecond
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.RetryBase = base })
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		e.fake.RespondTo(url, slacktest.ServerError())
		e.record(event.ApprovalExpired, "k")
		del := e.settled(id, 1, 60*time.Second)[0]
		if del.Status != "FAILED" || del.Attempts != notify.MaxAttempts || *del.LastStatusCode != 500 || *del.LastError != "rollup_error" || del.NextAttemptAt != nil {
			t.Errorf("delivery %+v", del)
		}
		reqs := e.fake.RequestsTo(url)
		if len(reqs) != notify.MaxAttempts {
			t.Fatalf("%d requests, want %d", len(reqs), notify.MaxAttempts)
		}
		// Each wait is at least the backoff: base·3^(n−1) less 10 %.
		wait := base
		for i := 1; i < len(reqs); i++ {
			if gap := reqs[i].At.Sub(reqs[i-1].At); gap < wait*9/10 {
				t.Errorf("retry %d came %s after the previous attempt, want at least %s", i, gap, wait*9/10)
			}
			wait *= 3
		}
		a := e.attempts(del.ID)
		if len(a) != notify.MaxAttempts || a[0].Outcome != "retryable" || *a[9].Body != "rollup_error" {
			t.Errorf("attempts %+v", a)
		}
		if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "discarded" || jobs[0].Errors != notify.MaxAttempts {
			t.Errorf("jobs %+v", jobs)
		}
		if st := e.state(id); !st.Enabled || *st.LastDeliveryStatus != "FAILED" || *st.LastError != "rollup_error" {
			t.Errorf("channel %+v", st)
		}
	})
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.HTTPTimeout = time.Second })
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		e.fake.RespondTo(url, slacktest.Hang(), slacktest.OK())
		e.record(event.ApprovalExpired, "k")
		del := e.settled(id, 1, 20*time.Second)[0]
		if del.Status != "DELIVERED" || del.Attempts != 2 || del.LastError != nil {
			t.Errorf("delivery %+v", del)
		}
		a := e.attempts(del.ID)
		if len(a) != 2 || a[0].StatusCode != nil || a[0].Error == nil || !strings.Contains(*a[0].Error, "Timeout") ||
			a[0].DurationMs < 1000 || a[0].Outcome != "retryable" || *a[1].StatusCode != 200 {
			t.Errorf("attempts %+v", a)
		}
		if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "completed" || jobs[0].Attempt != 2 || jobs[0].Errors != 1 {
			t.Errorf("jobs %+v", jobs)
		}
		e.noSecret(url)
	})
}

func TestDeadWebhookDisablesChannel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		for _, answer := range []struct {
			status int
			body   string
		}{{404, "no_service"}, {410, "channel_is_archived"}, {403, "invalid_token"}, {404, "channel_not_found"}} {
			t.Run(answer.body, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, d)
				id, url := e.channel("ops", "APPROVAL_EXPIRED")
				e.fake.RespondTo(url, slacktest.Status(answer.status, answer.body), slacktest.OK())
				e.record(event.ApprovalExpired, "first")
				del := e.settled(id, 1, 20*time.Second)[0]
				if del.Status != "FAILED" || del.Attempts != 1 || *del.LastStatusCode != answer.status || *del.LastError != answer.body {
					t.Errorf("delivery %+v", del)
				}
				st := e.state(id)
				if st.Enabled || st.DisabledReason == nil || *st.DisabledReason != answer.body || *st.LastDeliveryStatus != "FAILED" {
					t.Errorf("channel %+v", st)
				}
				if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "cancelled" {
					t.Errorf("jobs %+v", jobs)
				}
				// Disabled: later events are not even enqueued for it.
				e.record(event.ApprovalExpired, "second")
				e.fannedOut()
				if n := len(e.deliveries(id)); n != 1 {
					t.Errorf("%d deliveries after disabling", n)
				}
				// Re-enabled by its owner, it delivers again with no reason left.
				var out struct {
					ToggleSlackChannel struct{ DisabledReason *string }
				}
				e.owner.MustDo(`mutation($id: ID!) { toggleSlackChannel(id: $id, enabled: true) { disabledReason } }`, map[string]any{"id": id}, &out)
				if out.ToggleSlackChannel.DisabledReason != nil {
					t.Errorf("re-enabled with reason %q", *out.ToggleSlackChannel.DisabledReason)
				}
				e.record(event.ApprovalExpired, "third")
				e.settled(id, 2, 20*time.Second)
				if got := texts(e.fake, url); len(got) != 2 || !strings.HasSuffix(got[1], "Key: third") {
					t.Errorf("fake Slack got %q", got)
				}
			})
		}
	})
}

func TestInvalidPayloadFailsAndKeepsChannel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		e.fake.RespondTo(url, slacktest.Status(400, "invalid_payload"), slacktest.OK())
		e.record(event.ApprovalExpired, "first")
		del := e.settled(id, 1, 20*time.Second)[0]
		if del.Status != "FAILED" || del.Attempts != 1 || *del.LastStatusCode != 400 || *del.LastError != "invalid_payload" {
			t.Errorf("delivery %+v", del)
		}
		if st := e.state(id); !st.Enabled || st.DisabledReason != nil {
			t.Errorf("channel %+v", st)
		}
		e.record(event.ApprovalExpired, "second")
		if got := e.settled(id, 2, 20*time.Second); got[0].Status != "DELIVERED" {
			t.Errorf("next delivery %+v", got[0])
		}
	})
}

// A redirect is neither followed nor retried: it would come again, and
// its target could be anything. The delivery fails; the channel stays.
func TestRedirectFailsWithoutRetryOrFollow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		target := e.fake.WebhookURL("T0001", "B0001", "RedirectTarget")
		e.fake.RespondTo(url, slacktest.Redirect(target))
		e.record(event.ApprovalExpired, "k")
		del := e.settled(id, 1, 20*time.Second)[0]
		if del.Status != "FAILED" || del.Attempts != 1 || *del.LastStatusCode != 302 || *del.LastError != "redirect not followed: status 302" {
			t.Errorf("delivery %+v", del)
		}
		if a := e.attempts(del.ID); len(a) != 1 || a[0].Outcome != "redirected" || *a[0].StatusCode != 302 {
			t.Errorf("attempts %+v", a)
		}
		if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "cancelled" || jobs[0].Attempt != 1 {
			t.Errorf("jobs %+v", jobs)
		}
		if n, m := len(e.fake.RequestsTo(url)), len(e.fake.RequestsTo(target)); n != 1 || m != 0 {
			t.Errorf("fake Slack got %d requests to the webhook and %d to the redirect's target, want 1 and 0", n, m)
		}
		if st := e.state(id); !st.Enabled || st.DisabledReason != nil || *st.LastDeliveryStatus != "FAILED" {
			t.Errorf("channel %+v", st)
		}
	})
}

func TestPerChannelRateLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		const interval, burst, events = 250 * time.Millisecond, 2, 6
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.ChannelInterval, c.Delivery.ChannelBurst = interval, burst })
		id, url := e.channel("busy", "PIN_FAILED")
		other, otherURL := e.channel("also-busy", "PIN_FAILED")
		recorded := time.Now()
		for i := range events {
			e.record(event.PinFailed, fmt.Sprintf("k%d", i))
		}
		e.settled(id, events, 20*time.Second)
		e.settled(other, events, 20*time.Second)
		// After the burst, one message per interval at most: the last can
		// leave no sooner than that many intervals after the events were
		// recorded, while without the limit all would arrive within a few
		// milliseconds. Measured from the recording, not from the first
		// arrival: a first request slowed on its way would shorten the
		// span between arrivals however well the limiter kept time.
		for _, u := range []string{url, otherURL} {
			reqs := e.fake.RequestsTo(u)
			if len(reqs) != events {
				t.Fatalf("%d requests", len(reqs))
			}
			if took, least := reqs[events-1].At.Sub(recorded), (events-burst)*interval; took < least {
				t.Errorf("%d messages arrived within %s of their events, want at least %s", events, took, least)
			}
		}
		for _, del := range e.deliveries(id) {
			if del.Status != "DELIVERED" || del.Attempts != 1 {
				t.Errorf("delivery %+v", del)
			}
		}
		got := texts(e.fake, url)
		slices.Sort(got)
		if len(slices.Compact(got)) != events {
			t.Errorf("messages %q", got)
		}
	})
}
