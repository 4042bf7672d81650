package slack

import (
	"errors"
	"strconv"
	"strings"
)

// Kind is what a delivery should do after a post.
type Kind int

const (
	// Delivered: Slack accepted the message.
	Delivered Kind = iota + 1
	// RateLimited: wait Result.RetryAfter (or a default) and try again;
	// this is not a failed attempt.
	RateLimited
	// Retryable: a server error, timeout, connection error or unexpected
	// answer; retry with backoff.
	Retryable
	// DeadWebhook: the webhook will never work again; fail the delivery
	// and disable the channel.
	DeadWebhook
	// BadPayload: Slack refused this message; fail the delivery, keep the channel.
	BadPayload
	// Redirected: the webhook answered with a redirect, which is never
	// followed (it could lead anywhere) and would come again on a retry;
	// fail the delivery, keep the channel.
	Redirected
)

func (k Kind) String() string {
	switch k {
	case Delivered:
		return "delivered"
	case RateLimited:
		return "rate_limited"
	case Retryable:
		return "retryable"
	case DeadWebhook:
		return "dead_webhook"
	case BadPayload:
		return "bad_payload"
	case Redirected:
		return "redirected"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Outcome is the classification of a Result. Reason is Slack's answer
// for DeadWebhook and BadPayload and a short description otherwise.
type Outcome struct {
	Kind   Kind
	Reason string
}

// ReasonInvalidURL is the Reason of a DeadWebhook outcome for a URL that
// the validator no longer accepts.
const ReasonInvalidURL = "invalid_webhook_url"

// deadAnswers are Slack's answers for webhooks that will not work again.
var deadAnswers = map[string]bool{
	"no_service":                        true,
	"no_active_hooks":                   true,
	"invalid_token":                     true,
	"channel_not_found":                 true,
	"channel_is_archived":               true,
	"no_team":                           true,
	"team_disabled":                     true,
	"action_prohibited":                 true,
	"posting_to_general_channel_denied": true,
}

// ErrorText is what a failed post shows as its error: the transport
// error's public text (PublicError) when no answer came, else Slack's
// answer, else the outcome's reason; "" for a delivered one.
func ErrorText(r Result, o Outcome) string {
	switch body := strings.TrimSpace(r.Body); {
	case o.Kind == Delivered:
		return ""
	case r.StatusCode == 0 && r.Err != nil:
		return PublicError(r.Err)
	case body != "":
		return body
	}
	return o.Reason
}

// Classify decides what a post's result means. Slack's answer text takes
// precedence over the status code.
func Classify(r Result) Outcome {
	if r.Err != nil && r.StatusCode == 0 {
		var fe *FieldError
		if errors.As(r.Err, &fe) {
			return Outcome{DeadWebhook, ReasonInvalidURL}
		}
		return Outcome{Retryable, PublicError(r.Err)}
	}
	answer := strings.TrimSpace(r.Body)
	switch {
	case deadAnswers[answer]:
		return Outcome{DeadWebhook, answer}
	case r.StatusCode >= 200 && r.StatusCode < 300:
		return Outcome{Delivered, answer}
	case r.StatusCode == 429:
		return Outcome{RateLimited, answer}
	case r.StatusCode >= 300 && r.StatusCode < 400:
		return Outcome{Redirected, "redirect not followed: status " + strconv.Itoa(r.StatusCode)}
	case isPayloadError(answer):
		return Outcome{BadPayload, answer}
	}
	reason := "status " + strconv.Itoa(r.StatusCode)
	if answer != "" {
		reason += ": " + answer
	}
	return Outcome{Retryable, reason}
}

// isPayloadError reports Slack answers that refuse the message itself.
func isPayloadError(answer string) bool {
	switch answer {
	case "no_text", "too_many_attachments", "msg_too_long":
		return true
	}
	return strings.HasPrefix(answer, "invalid_") || strings.HasPrefix(answer, "missing_text")
}
