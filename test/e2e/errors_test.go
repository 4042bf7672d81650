package e2e_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

func TestRateLimitedAnswersSendRetryAfter(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	c := srv.Client("").FromIP("127.0.9.1")
	for i := range 60 {
		r := c.Do(logInMutation, logInVars("nobody@example.com", "wrong horse battery"))
		if len(r.Errors) == 0 || r.Errors[0].Code() != "RATE_LIMITED" {
			if h := r.Header.Get("Retry-After"); h != "" {
				t.Fatalf("attempt %d: Retry-After %q on an answer that is not rate limited", i, h)
			}
			continue
		}
		secs, _ := r.Errors[0].Extensions["retryAfterSeconds"].(float64)
		h, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || h < 1 || h != int(secs) {
			t.Fatalf("Retry-After %q, retryAfterSeconds %v: want the same whole number of seconds", r.Header.Get("Retry-After"), secs)
		}
		return
	}
	t.Fatal("no RATE_LIMITED answer after 60 failed logins from one address")
}

func TestEveryProblemOfAnInputIsListed(t *testing.T) {
	t.Parallel()
	// How the problems are answered is GraphQL's; the rule holds on both
	// databases in the approval service's TestServiceRules.
	srv := testserver.Start(t, store.SQLite)
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("p")
	r := alice.Do(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url } }`,
		map[string]any{"p": pid, "i": map[string]any{
			"keyPath": "bad//path", "value": "yes", "ttlSeconds": 1, "pin": "12",
		}})
	var fields []string
	for _, e := range r.Errors {
		if e.Code() != "BAD_USER_INPUT" || e.Message == "" {
			t.Fatalf("error %+v, want BAD_USER_INPUT with a message", e)
		}
		fields = append(fields, e.Field())
	}
	if want := []string{"keyPath", "ttlSeconds", "pin"}; len(fields) != len(want) || fields[0] != want[0] || fields[1] != want[1] || fields[2] != want[2] {
		t.Fatalf("errors for fields %v, want one for each of %v, in that order", fields, want)
	}
	var count int
	storetest.Must(t, srv.App.Store.DB(context.Background()).Raw(`SELECT count(*) FROM approvals`).Scan(&count).Error)
	if count != 0 {
		t.Fatalf("%d approvals stored from a refused input", count)
	}
}

// A GET request's query string is checked as a body is: bytes that are not
// UTF-8 never reach GraphQL.
func TestQueryStringMustBeUTF8(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	resp, body := get(t, srv, "/query?query=%7B%20project(id%3A%22a%FFb%22)%20%7B%20id%20%7D%20%7D")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"code":"BAD_USER_INPUT"`) {
		t.Fatalf("%d %s, want 400 BAD_USER_INPUT", resp.StatusCode, body)
	}
	resp, body = get(t, srv, "/query?query=%7B%20__typename%20%7D")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"__typename":"Query"`) {
		t.Fatalf("a valid GET: %d %s", resp.StatusCode, body)
	}
}

func TestSignUpAndSlackChannelListEveryProblem(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	fields := func(r *testserver.Response) []string {
		var out []string
		for _, e := range r.Errors {
			if e.Code() != "BAD_USER_INPUT" {
				t.Fatalf("error %+v, want BAD_USER_INPUT", e)
			}
			out = append(out, e.Field())
		}
		return out
	}
	r := srv.Client("").FromIP("127.0.9.2").Do(`mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`,
		map[string]any{"i": map[string]any{"email": "not an address", "password": "short", "name": " "}})
	if got := strings.Join(fields(r), ","); got != "email,password,name" {
		t.Fatalf("signUp errors for %q, want email,password,name", got)
	}
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("p")
	r = alice.Do(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
		map[string]any{"p": pid, "i": map[string]any{"name": "", "webhookUrl": "https://example.com/hook", "events": []string{}}})
	if got := strings.Join(fields(r), ","); got != "name,events,webhookUrl" {
		t.Fatalf("addSlackChannel errors for %q, want name,events,webhookUrl", got)
	}
}
