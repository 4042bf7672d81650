package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/requestlog"
)

func TestPresentShowsOnlyTheDomainMessage(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err        error
		code       apperr.Code
		message    string
		extensions map[string]any
	}{
		"wrapped domain error": {
			err:  fmt.Errorf("load approval 42 from pg at 10.0.0.3: %w", apperr.NotFound("approval")),
			code: apperr.CodeNotFound, message: "approval not found",
			extensions: map[string]any{"code": "NOT_FOUND"},
		},
		"field": {
			err:  apperr.Invalid("password", "password must be 10 to 256 characters"),
			code: apperr.CodeBadUserInput, message: "password must be 10 to 256 characters",
			extensions: map[string]any{"code": "BAD_USER_INPUT", "field": "password"},
		},
		"retry after, rounded up": {
			err:  apperr.RateLimited(1500 * time.Millisecond),
			code: apperr.CodeRateLimited, message: "too many requests, try again later",
			extensions: map[string]any{"code": "RATE_LIMITED", "retryAfterSeconds": 2},
		},
		"gqlgen's own request error": {
			err:  gqlerror.Errorf("operation has complexity 900, which exceeds the limit of 500"),
			code: apperr.CodeBadUserInput, message: "operation has complexity 900, which exceeds the limit of 500",
			extensions: map[string]any{"code": "BAD_USER_INPUT"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gqlErr := graphql.DefaultErrorPresenter(context.Background(), tc.err)
			if code := present(context.Background(), gqlErr, tc.err); code != tc.code {
				t.Fatalf("code %s, want %s", code, tc.code)
			}
			if gqlErr.Message != tc.message || fmt.Sprint(gqlErr.Extensions) != fmt.Sprint(tc.extensions) {
				t.Fatalf("presented %q %v, want %q %v", gqlErr.Message, gqlErr.Extensions, tc.message, tc.extensions)
			}
		})
	}
}

// A panicking resolver answers INTERNAL without details and logs the panic
// with the request id. A resolver without its services panics on use.
func TestPanicIsInternalAndLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := NewHandler(&Resolver{}, HandlerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(requestlog.WithID(r.Context(), "req-panic-1")))
	}))
	defer srv.Close()

	body := `{"query": "mutation { signUp(input: {email: \"a@example.com\", password: \"correct horse battery\", name: \"A\"}) { accessToken } }"}`
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || out.Errors[0].Message != "internal error" || out.Errors[0].Extensions["code"] != "INTERNAL" {
		t.Fatalf("errors: %+v", out.Errors)
	}
	if l := logs.String(); !strings.Contains(l, "panic in resolver") || !strings.Contains(l, "request_id=req-panic-1") || !strings.Contains(l, "nil pointer") {
		t.Fatalf("log: %s", l)
	}
}

// A request whose client has gone runs no resolver: with services
// missing, each would panic and log it.
func TestNoResolverRunsForAGoneClient(t *testing.T) {
	t.Parallel()
	for _, gone := range []bool{false, true} {
		var logs bytes.Buffer
		h := NewHandler(&Resolver{}, HandlerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		if gone {
			cancel()
		} else {
			defer cancel()
		}
		req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(`{"query": "{ a: project(id: \"p\") { id } b: approval(id: \"a\") { id } }"}`)).WithContext(ctx)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if panicked := strings.Contains(logs.String(), "panic in resolver"); panicked == gone {
			t.Fatalf("client gone %v: resolvers ran %v: %s", gone, panicked, rec.Body)
		}
	}
}
