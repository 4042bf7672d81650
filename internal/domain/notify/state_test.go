package notify

import (
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack"
)

func TestNext(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	p := Policy{RetryBase: 9 * time.Second, RateLimitWait: time.Minute, RateLimitedFor: 24 * time.Hour, MaxAttempts: 10}
	sustained := p
	sustained.Sustained = &Sustained{Deliveries: 3, For: 24 * time.Hour}
	failing := Health{FailedInARow: 2, FailingSince: now.Add(-25 * time.Hour)}

	tests := []struct {
		name string
		in   Input
		p    Policy
		want Decision
	}{
		{"2xx is delivered", Input{Outcome: slack.Outcome{Kind: slack.Delivered}, Attempt: 3, Now: now}, p,
			Decision{Step: StepDelivered, Status: slack.StatusDelivered}},
		{"429 with Retry-After snoozes for it", Input{Outcome: slack.Outcome{Kind: slack.RateLimited}, RetryAfter: 7 * time.Second, Attempt: 1, Enqueued: now, Now: now}, p,
			Decision{Step: StepSnooze, Status: slack.StatusRetrying, At: now.Add(7 * time.Second)}},
		{"429 without Retry-After snoozes the default", Input{Outcome: slack.Outcome{Kind: slack.RateLimited}, Attempt: 1, Enqueued: now, Now: now}, p,
			Decision{Step: StepSnooze, Status: slack.StatusRetrying, At: now.Add(time.Minute)}},
		{"429 for a day fails", Input{Outcome: slack.Outcome{Kind: slack.RateLimited}, RetryAfter: time.Second, Attempt: 1, Enqueued: now.Add(-24 * time.Hour), Now: now}, p,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "still rate limited 24h0m0s after it was enqueued"}},
		{"first failure retries after the base", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "status 500"}, Attempt: 1, Now: now}, p,
			Decision{Step: StepRetry, Status: slack.StatusRetrying, At: now.Add(9 * time.Second), Why: "status 500"}},
		{"third failure waits nine times the base", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "timeout"}, Attempt: 3, Now: now}, p,
			Decision{Step: StepRetry, Status: slack.StatusRetrying, At: now.Add(81 * time.Second), Why: "timeout"}},
		{"last attempt's failure fails", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "status 503"}, Attempt: 10, Now: now}, p,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "status 503"}},
		{"last failure without a sustained rule keeps the channel", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "x"}, Attempt: 10, Now: now, Health: failing}, p,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "x"}},
		{"sustained failure disables", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "status 500"}, Attempt: 10, Now: now, Health: failing}, sustained,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "status 500", Disable: "3 deliveries in a row failed over 25h0m0s"}},
		{"too few failed deliveries keep it", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "status 500"}, Attempt: 10, Now: now,
			Health: Health{FailedInARow: 1, FailingSince: now.Add(-48 * time.Hour)}}, sustained,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "status 500"}},
		{"failing too briefly keeps it", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "status 500"}, Attempt: 10, Now: now,
			Health: Health{FailedInARow: 5, FailingSince: now.Add(-time.Hour)}}, sustained,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "status 500"}},
		{"a retry is not a failed delivery", Input{Outcome: slack.Outcome{Kind: slack.Retryable, Reason: "status 500"}, Attempt: 2, Now: now, Health: failing}, sustained,
			Decision{Step: StepRetry, Status: slack.StatusRetrying, At: now.Add(27 * time.Second), Why: "status 500"}},
		{"dead webhook fails and disables", Input{Outcome: slack.Outcome{Kind: slack.DeadWebhook, Reason: "channel_is_archived"}, Attempt: 1, Now: now}, p,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Disable: "channel_is_archived", Why: "dead webhook: channel_is_archived"}},
		{"redirect fails at once", Input{Outcome: slack.Outcome{Kind: slack.Redirected, Reason: "redirect not followed: status 302"}, Attempt: 1, Now: now}, p,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "webhook redirected: redirect not followed: status 302"}},
		{"refused payload fails at once", Input{Outcome: slack.Outcome{Kind: slack.BadPayload, Reason: "no_text"}, Attempt: 1, Now: now}, p,
			Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "message refused: no_text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Next(tt.in, tt.p); got != tt.want {
				t.Errorf("Next =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

// Jitter applies to backoff and to the default snooze, never to a
// Retry-After the channel asked for.
func TestNextJitters(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := Policy{RetryBase: time.Second, RateLimitWait: time.Minute, RateLimitedFor: time.Hour, MaxAttempts: 3,
		Jitter: func(d time.Duration) time.Duration { return d + time.Millisecond }}
	if d := Next(Input{Outcome: slack.Outcome{Kind: slack.Retryable}, Attempt: 1, Now: now}, p); d.At != now.Add(time.Second+time.Millisecond) {
		t.Errorf("retry at %s", d.At.Sub(now))
	}
	if d := Next(Input{Outcome: slack.Outcome{Kind: slack.RateLimited}, Enqueued: now, Now: now}, p); d.At != now.Add(time.Minute+time.Millisecond) {
		t.Errorf("default snooze %s", d.At.Sub(now))
	}
	if d := Next(Input{Outcome: slack.Outcome{Kind: slack.RateLimited}, RetryAfter: 5 * time.Second, Enqueued: now, Now: now}, p); d.At != now.Add(5*time.Second) {
		t.Errorf("Retry-After snooze %s", d.At.Sub(now))
	}
}
