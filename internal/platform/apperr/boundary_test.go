package apperr_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/apperr"
)

func TestStatusOfEveryCode(t *testing.T) {
	for code, want := range map[apperr.Code]int{
		apperr.CodeUnauthenticated:         401,
		apperr.CodeForbidden:               403,
		apperr.CodeNotFound:                404,
		apperr.CodeBadUserInput:            400,
		apperr.CodeConflict:                409,
		apperr.CodeRateLimited:             429,
		apperr.CodeInternal:                500,
		apperr.CodeComplexityLimitExceeded: 400,
		apperr.CodeParseFailed:             400,
		apperr.CodeValidationFailed:        400,
		apperr.CodePersistedQueryNotFound:  400,
		apperr.CodeShuttingDown:            503,
		apperr.CodeTooManySubscriptions:    429,
		apperr.Code("SOMETHING_NEW"):       500,
	} {
		if got := code.Status(); got != want {
			t.Errorf("%s.Status() = %d, want %d", code, got, want)
		}
	}
}

// A domain error is shown as it is and logged nowhere; anything else is
// INTERNAL, its cause logged once and never in the answer.
func TestPresentHidesAndLogsTheCause(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	ctx := context.Background()

	domain := apperr.NotFound("approval")
	if got := apperr.Present(ctx, logger, "REST request", domain); got != domain {
		t.Fatalf("Present(domain error) = %v, want it unchanged", got)
	}
	if log.Len() != 0 {
		t.Fatalf("a domain error was logged: %s", log.String())
	}

	cause := errors.New(`pq: relation "approvals" does not exist`)
	got := apperr.Present(ctx, logger, "REST request", cause, "request_id", "r-1")
	if got.Code != apperr.CodeInternal || got.Message != "internal error" {
		t.Fatalf("Present(cause) = %+v, want INTERNAL internal error", got)
	}
	line := log.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "REST request failed") ||
		!strings.Contains(line, `relation \"approvals\"`) || !strings.Contains(line, "request_id=r-1") {
		t.Fatalf("log = %q, want one line with the cause and the request id", line)
	}
}

// The middleware shared by every surface answers in the shape of the
// surface that registered the longest prefix of the path.
func TestWritersPickTheLongestPrefix(t *testing.T) {
	shape := func(name string) apperr.Writer {
		return func(w http.ResponseWriter, _ *http.Request, status int, e *apperr.Error) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(name + ":" + string(e.Code)))
		}
	}
	var ws apperr.Writers
	ws.Register("", shape("graphql"))
	ws.Register("/v1/", shape("rest"))
	ws.Register("/v1/slack/", shape("slack"))
	for path, want := range map[string]string{
		"/query":             "graphql",
		"/":                  "graphql",
		"/v1/approvals":      "rest",
		"/v1":                "graphql",
		"/v1/slack/channels": "slack",
	} {
		rec := httptest.NewRecorder()
		ws.Write(rec, httptest.NewRequest(http.MethodGet, path, nil), apperr.Invalid("x", "bad"))
		if got := rec.Body.String(); got != want+":BAD_USER_INPUT" || rec.Code != 400 {
			t.Errorf("%s: %d %q, want 400 from %s", path, rec.Code, got, want)
		}
	}

	rec := httptest.NewRecorder()
	ws.WriteStatus(rec, httptest.NewRequest(http.MethodPost, "/v1/approvals", nil), http.StatusRequestEntityTooLarge, apperr.Invalid("", "request body too large"))
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != "rest:BAD_USER_INPUT" {
		t.Errorf("WriteStatus: %d %q", rec.Code, rec.Body.String())
	}

	var none apperr.Writers
	rec = httptest.NewRecorder()
	none.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), apperr.Forbidden(""))
	if rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Body.String(), "FORBIDDEN: ") {
		t.Errorf("no writer: %d %q, want 403 as plain text", rec.Code, rec.Body.String())
	}
}
