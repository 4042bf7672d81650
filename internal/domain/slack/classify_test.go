package slack

import (
	"errors"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		body   string
		kind   Kind
		reason string
	}{
		{200, "ok", Delivered, "ok"},
		{204, "", Delivered, ""},
		{400, "invalid_payload", BadPayload, "invalid_payload"},
		{400, "no_text", BadPayload, "no_text"},
		{400, "invalid_blocks", BadPayload, "invalid_blocks"},
		{400, "missing_text_or_fallback_or_attachments", BadPayload, "missing_text_or_fallback_or_attachments"},
		{403, "invalid_token", DeadWebhook, "invalid_token"},
		{403, "action_prohibited", DeadWebhook, "action_prohibited"},
		{403, "team_disabled", DeadWebhook, "team_disabled"},
		{404, "no_service", DeadWebhook, "no_service"},
		{404, "channel_not_found", DeadWebhook, "channel_not_found"},
		{404, "no_team", DeadWebhook, "no_team"},
		{410, "channel_is_archived", DeadWebhook, "channel_is_archived"},
		{403, "no_active_hooks", DeadWebhook, "no_active_hooks"},
		{400, "posting_to_general_channel_denied", DeadWebhook, "posting_to_general_channel_denied"},
		{400, "no_service\n", DeadWebhook, "no_service"},
		{500, "no_service", DeadWebhook, "no_service"},
		{429, "rate_limited", RateLimited, "rate_limited"},
		{500, "rollup_error", Retryable, "status 500: rollup_error"},
		{503, "", Retryable, "status 503"},
		{302, "", Redirected, "redirect not followed: status 302"},
		{301, "moved", Redirected, "redirect not followed: status 301"},
		{307, "invalid_payload", Redirected, "redirect not followed: status 307"},
		{308, "", Redirected, "redirect not followed: status 308"},
		{300, "", Redirected, "redirect not followed: status 300"},
		{404, "Not Found", Retryable, "status 404: Not Found"},
		{418, "teapot", Retryable, "status 418: teapot"},
	}
	for _, tc := range cases {
		got := Classify(Result{StatusCode: tc.status, Body: tc.body})
		if got.Kind != tc.kind || got.Reason != tc.reason {
			t.Errorf("%d %q: %v %q, want %v %q", tc.status, tc.body, got.Kind, got.Reason, tc.kind, tc.reason)
		}
	}

	if got := Classify(Result{Err: errors.New("dial tcp: connection refused")}); got.Kind != Retryable {
		t.Errorf("transport error: %v", got.Kind)
	}
	invalid := Result{Err: Validator{}.Validate("https://example.com/x")}
	if got := Classify(invalid); got.Kind != DeadWebhook || got.Reason != ReasonInvalidURL {
		t.Errorf("invalid URL: %+v", got)
	}
	if Delivered.String() != "delivered" || Kind(0).String() != "Kind(0)" {
		t.Error("Kind.String")
	}
}
