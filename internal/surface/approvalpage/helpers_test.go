package approvalpage_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// fixture is a running server with one project, a WRITE key for the API
// and a browser-like HTTP client for the page.
type fixture struct {
	t     *testing.T
	srv   *testserver.Server
	api   *testserver.Client
	clock *testserver.Clock
	pid   string
	web   *http.Client
}

func setup(t *testing.T, d store.Dialect, projectName string) *fixture {
	t.Helper()
	clock := &testserver.Clock{}
	srv := testserver.Start(t, d, testserver.WithClock(clock))
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject(projectName)
	_, key := owner.CreateAPIKey(pid, "WRITE")
	return &fixture{t: t, srv: srv, api: srv.Client(key), clock: clock, pid: pid, web: webClient(t, "127.0.0.1")}
}

// webClient is a client whose connections come from ip (any address of
// 127.0.0.0/8), so that tests can be several clients of the per-IP limits.
// It does not follow redirects: the page must answer every request itself.
func webClient(t *testing.T, ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	transport := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// link is a created approval.
type link struct{ ID, URL, Token string }

// create makes an approval from a CreateApprovalInput.
func (f *fixture) create(input map[string]any) link {
	f.t.Helper()
	var out struct {
		CreateApproval struct {
			URL, Token string
			Approval   struct{ ID string }
		}
	}
	f.api.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url token approval { id } } }`,
		map[string]any{"p": f.pid, "i": input}, &out)
	c := out.CreateApproval
	if !strings.HasSuffix(c.URL, "/a/"+c.Token) {
		f.t.Fatalf("link %q does not end in /a/<token>", c.URL)
	}
	return link{ID: c.Approval.ID, URL: c.URL, Token: c.Token}
}

// deployInput is an approval with three actions, one of each style, and a
// PIN.
func deployInput() map[string]any {
	return map[string]any{
		"keyPath": "deploy/web/run-42",
		"info":    "Deploy web v2.14 to production?",
		"actions": []map[string]any{
			{"key": "approve", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
			{"key": "reject", "value": "rejected", "label": "Cancel", "style": "DANGER"},
			{"key": "later", "value": "later", "label": "Ask me later"},
		},
		"pin": "2468",
	}
}

// response is one answer of the page.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (f *fixture) do(c *http.Client, method, target string, form url.Values) response {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, target, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("read %s %s: %v", method, target, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func (f *fixture) get(target string) response  { return f.do(f.web, http.MethodGet, target, nil) }
func (f *fixture) head(target string) response { return f.do(f.web, http.MethodHead, target, nil) }
func (f *fixture) post(target string, form url.Values) response {
	return f.do(f.web, http.MethodPost, target, form)
}

// open loads a link that must show its form and returns the form's nonce.
func (f *fixture) open(l link) string {
	f.t.Helper()
	r := f.get(l.URL)
	r.expect(f.t, http.StatusOK, "Approval requested")
	return nonceOf(f.t, r.Body)
}

var nonceField = regexp.MustCompile(`<input type="hidden" name="nonce" value="([A-Za-z0-9_-]+)">`)

func nonceOf(t *testing.T, body string) string {
	t.Helper()
	m := nonceField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no nonce in the page:\n%s", body)
	}
	return m[1]
}

// expect checks the status, the security headers and that the page says
// each of texts.
func (r response) expect(t *testing.T, status int, texts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.Status, status, r.Body)
	}
	expectSecurityHeaders(t, r.Header)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, s := range texts {
		if !strings.Contains(r.Body, s) {
			t.Errorf("page lacks %q; body:\n%s", s, r.Body)
		}
	}
}

const wantCSP = "default-src 'none'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func expectSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"X-Robots-Tag":            "noindex, nofollow",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" && !strings.HasPrefix(cc, "public, max-age=") {
		t.Errorf("Cache-Control: %q", cc)
	}
}

// state is what the API says about an approval afterwards.
type state struct {
	Status            string
	FailedPinAttempts int
	ExecutedAction    *struct{ Key string }
	Events            []struct{ Type string }
	Value             *string
}

func (f *fixture) state(l link, keyPath string) state {
	f.t.Helper()
	var out struct {
		Approval state
		Project  struct{ Key *struct{ Value *string } }
	}
	f.api.MustDo(`query($id: ID!, $p: ID!, $k: String!) {
		approval(id: $id) { status failedPinAttempts executedAction { key } events { type } }
		project(id: $p) { key(path: $k) { value } } }`,
		map[string]any{"id": l.ID, "p": f.pid, "k": keyPath}, &out)
	st := out.Approval
	if out.Project.Key != nil {
		st.Value = out.Project.Key.Value
	}
	return st
}

func (s state) eventTypes() []string {
	var types []string
	for _, e := range s.Events {
		types = append(types, e.Type)
	}
	return types
}

// expectEvents checks the approval's events, oldest first.
func (s state) expectEvents(t *testing.T, want ...string) {
	t.Helper()
	if got := s.eventTypes(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// expectUnchanged checks that nothing happened to an approval since it was
// created with a PIN and no initial value.
func (s state) expectUnchanged(t *testing.T) {
	t.Helper()
	if s.Status != "PENDING" || s.FailedPinAttempts != 0 || s.ExecutedAction != nil || s.Value != nil {
		t.Fatalf("approval changed: status %s, failed PINs %d, executed %v, value %v", s.Status, s.FailedPinAttempts, s.ExecutedAction, s.Value)
	}
	s.expectEvents(t, "APPROVAL_CREATED")
}
