package notify

import (
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/slack"
)

// Step is what becomes of a delivery after an attempt.
type Step int

const (
	// StepDelivered: the channel accepted the message.
	StepDelivered Step = iota + 1
	// StepRetry: a failed attempt; the next one is at Decision.At.
	StepRetry
	// StepSnooze: rate limited; try again at Decision.At without counting
	// a failed attempt.
	StepSnooze
	// StepFailed: given up; Decision.Disable, when set, also disables the
	// channel.
	StepFailed
)

func (s Step) String() string {
	switch s {
	case StepDelivered:
		return "delivered"
	case StepRetry:
		return "retry"
	case StepSnooze:
		return "snooze"
	case StepFailed:
		return "failed"
	}
	return fmt.Sprintf("Step(%d)", int(s))
}

// Policy holds the numbers the state machine decides by.
type Policy struct {
	RetryBase      time.Duration // wait after the first failed attempt, tripled after each
	RateLimitWait  time.Duration // snooze after a 429 without Retry-After
	RateLimitedFor time.Duration // give up when still rate limited this long after enqueueing
	MaxAttempts    int
	// Jitter spreads a wait; nil keeps waits exact.
	Jitter func(time.Duration) time.Duration
	// Sustained, when set, disables a channel that keeps failing.
	Sustained *Sustained
}

// Sustained is when a channel that keeps failing is disabled: once
// Deliveries consecutive deliveries have FAILED and nothing was delivered
// to it for at least For.
type Sustained struct {
	Deliveries int
	For        time.Duration
}

// Health is a channel's record of failure up to this attempt.
type Health struct {
	// FailedInARow counts its deliveries FAILED since the last DELIVERED.
	FailedInARow int
	// FailingSince is when the first attempt since the last delivered one
	// failed; zero while it delivers.
	FailingSince time.Time
}

// Input is one settled attempt.
type Input struct {
	Outcome    slack.Outcome
	RetryAfter time.Duration // from the answer; 0 if none
	Attempt    int           // 1 for the first, as River counts
	Enqueued   time.Time     // when the delivery's job was created
	Now        time.Time
	Health     Health
}

// Decision is the delivery's next state.
type Decision struct {
	Step Step
	// At is when a retried or snoozed delivery is attempted next.
	At time.Time
	// Status is the delivery's new status.
	Status string
	// Disable, when not empty, disables the channel for this reason.
	Disable string
	// Why explains a failure for the job's log: the outcome's reason, or
	// why it was given up.
	Why string
}

// Next decides a delivery's next state from one attempt's outcome. It is
// a pure function of its arguments: every rule of retries, snoozes,
// failures and disabling is here.
func Next(in Input, p Policy) Decision {
	jitter := p.Jitter
	if jitter == nil {
		jitter = func(d time.Duration) time.Duration { return d }
	}
	o := in.Outcome
	switch o.Kind {
	case slack.Delivered:
		return Decision{Step: StepDelivered, Status: slack.StatusDelivered}
	case slack.RateLimited:
		if in.Now.Sub(in.Enqueued) >= p.RateLimitedFor {
			return Decision{Step: StepFailed, Status: slack.StatusFailed,
				Why: fmt.Sprintf("still rate limited %s after it was enqueued", p.RateLimitedFor)}
		}
		wait := in.RetryAfter
		if wait <= 0 {
			wait = jitter(p.RateLimitWait)
		}
		return Decision{Step: StepSnooze, Status: slack.StatusRetrying, At: in.Now.Add(wait)}
	case slack.Retryable:
		if in.Attempt < p.MaxAttempts {
			return Decision{Step: StepRetry, Status: slack.StatusRetrying,
				At: in.Now.Add(jitter(retryWait(p.RetryBase, in.Attempt))), Why: o.Reason}
		}
		d := Decision{Step: StepFailed, Status: slack.StatusFailed, Why: o.Reason}
		if s := p.Sustained; s != nil && in.Health.FailedInARow+1 >= s.Deliveries &&
			!in.Health.FailingSince.IsZero() && in.Now.Sub(in.Health.FailingSince) >= s.For {
			d.Disable = fmt.Sprintf("%d deliveries in a row failed over %s", in.Health.FailedInARow+1, in.Now.Sub(in.Health.FailingSince).Round(time.Minute))
		}
		return d
	case slack.DeadWebhook:
		return Decision{Step: StepFailed, Status: slack.StatusFailed, Disable: o.Reason, Why: "dead webhook: " + o.Reason}
	case slack.Redirected:
		return Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "webhook redirected: " + o.Reason}
	}
	// BadPayload, or an outcome this machine does not know: never retried.
	return Decision{Step: StepFailed, Status: slack.StatusFailed, Why: "message refused: " + o.Reason}
}
