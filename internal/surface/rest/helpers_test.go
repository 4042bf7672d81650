package rest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// fixture is a running server with one project and a WRITE and a READ key.
type fixture struct {
	t           *testing.T
	srv         *testserver.Server
	owner       *testserver.User
	pid         string
	write, read string
	writeKeyID  string
	clock       *testserver.Clock
}

func setup(t *testing.T, d store.Dialect, opts ...testserver.Option) *fixture {
	t.Helper()
	clock := &testserver.Clock{}
	srv := testserver.Start(t, d, append([]testserver.Option{testserver.WithClock(clock)}, opts...)...)
	return newFixture(t, srv, clock)
}

func newFixture(t *testing.T, srv *testserver.Server, clock *testserver.Clock) *fixture {
	t.Helper()
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("ci")
	writeID, write := owner.CreateAPIKey(pid, "WRITE")
	_, read := owner.CreateAPIKey(pid, "READ")
	return &fixture{t: t, srv: srv, owner: owner, pid: pid, write: write, read: read, writeKeyID: writeID, clock: clock}
}

// reply is one answer of the API.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request with credential ("" for none) and body ("" for none);
// header holds further name, value pairs.
func (f *fixture) do(method, path, credential, body string, header ...string) reply {
	f.t.Helper()
	return do(f.t, f.srv.URL, method, path, credential, body, header...)
}

func do(t testing.TB, base, method, path, credential, body string, header ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// decode checks the status and decodes the body into v (nil: skip).
func (r reply) decode(t testing.TB, status int, v any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if v != nil {
		if err := json.Unmarshal(r.Body, v); err != nil {
			t.Fatalf("decode %s: %v", r.Body, err)
		}
	}
}

// apiError is the body of every error.
type apiError struct {
	Error struct {
		Code, Message, Field string
		RetryAfterSeconds    int    `json:"retry_after_seconds"`
		RequestID            string `json:"request_id"`
		Problems             []struct{ Field, Message string }
	}
}

// expectError checks an error answer: status, code and, when not empty,
// the field.
func (r reply) expectError(t testing.TB, status int, code, field string) apiError {
	t.Helper()
	var e apiError
	r.decode(t, status, &e)
	if e.Error.Code != code {
		t.Errorf("code %q, want %q: %s", e.Error.Code, code, r.Body)
	}
	if field != "" && e.Error.Field != field {
		t.Errorf("field %q, want %q: %s", e.Error.Field, field, r.Body)
	}
	if e.Error.Message == "" {
		t.Errorf("no message: %s", r.Body)
	}
	for _, leak := range []string{"SQL", "sqlite", "pq:", "pgx", "goroutine", ".go:"} {
		if strings.Contains(string(r.Body), leak) {
			t.Errorf("error leaks %q: %s", leak, r.Body)
		}
	}
	return e
}

// created is the answer to POST /v1/approvals.
type created struct {
	ID, URL   string
	KeyPath   string `json:"key_path"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
}

// approvalJSON is an approval as the API shows it.
type approvalJSON struct {
	ID                string
	KeyPath           string `json:"key_path"`
	Status            string
	FailedPinAttempts int `json:"failed_pin_attempts"`
	ExecutedAction    *struct {
		Key, Value, Label, Style string
	} `json:"executed_action"`
	Actions []struct{ Key, Value, Label, Style string }
}

// create makes an approval with the WRITE key and returns it.
func (f *fixture) create(body string) created {
	f.t.Helper()
	var c created
	f.do("POST", "/v1/approvals", f.write, body).decode(f.t, http.StatusCreated, &c)
	return c
}

// approval reads an approval with the WRITE key.
func (f *fixture) approval(id, query string) approvalJSON {
	f.t.Helper()
	var a approvalJSON
	f.do("GET", "/v1/approvals/"+id+query, f.write, "").decode(f.t, http.StatusOK, &a)
	return a
}

// execute presses action's button on the link's page.
func (f *fixture) execute(link, action, pin string) int {
	f.t.Helper()
	status, err := f.srv.ExecuteLink(link, action, pin)
	if err != nil {
		f.t.Fatal(err)
	}
	return status
}
