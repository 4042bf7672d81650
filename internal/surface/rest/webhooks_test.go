package rest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// hookReceiver records the requests it gets and answers 204.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []hookRequest
	seen chan struct{}
}

type hookRequest struct {
	Header http.Header
	Body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	r := &hookReceiver{seen: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, hookRequest{Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		r.seen <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// next returns the next request, failing after 20 s without one.
func (r *hookReceiver) next(t *testing.T) hookRequest {
	t.Helper()
	select {
	case <-r.seen:
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook request in 20 s")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	req := r.got[0]
	r.got = r.got[1:]
	return req
}

// signedBy reports whether one of the request's signatures is secret's.
func signedBy(t *testing.T, r hookRequest, secret string) bool {
	t.Helper()
	ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	storetest.Must(t, err)
	want, err := webhook.Sign(secret, r.Header.Get("webhook-id"), time.Unix(ts, 0), r.Body)
	storetest.Must(t, err)
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		if sig == want {
			return true
		}
	}
	return false
}

type webhookJSON struct {
	ID, Name                string
	URLMasked               string   `json:"url_masked"`
	Events                  []string `json:"events"`
	Enabled                 bool
	DisabledReason          *string    `json:"disabled_reason"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

type webhookSecretJSON struct {
	Webhook webhookJSON
	Secret  string
}

// checkOpenAPI holds answers to the schemas of the OpenAPI document, as
// TestResponsesMatchOpenAPI does.
func checkOpenAPI(t *testing.T, answers []recorded) {
	t.Helper()
	// Through NodeTools, like every user of test/openapi: the first to ask
	// installs, and none reads the packages while another installs them.
	node, dir := testserver.NodeTools(t, "test/openapi")
	in, _ := json.Marshal(answers)
	cmd := exec.Command(node, "check-responses.mjs", filepath.Join("..", "..", "internal", "surface", "rest", "openapi.json"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("answers that do not match the OpenAPI document: %v\n%s", err, out)
	}
}

// The webhook endpoints of the key's project over REST: a WRITE key adds,
// lists, changes, tests, rotates and removes them, a READ key is refused
// even the list (how a project is wired is not a value it reads),
// another project's key finds none, and every answer matches the OpenAPI
// document.
func TestWebhookEndpointsOverREST(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		rcv := newHookReceiver(t)
		f := setup(t, d, func(c *config.Config) { c.WebhookAllowedPrefixes = []string{rcv.URL + "/"} })
		var answers []recorded
		call := func(method, template, path, credential, body string) reply {
			t.Helper()
			r := f.do(method, path, credential, body)
			if len(r.Body) > 0 {
				answers = append(answers, recorded{method, template, r.Status, r.Body})
			}
			return r
		}
		const list, one, test, rotate = "/v1/webhooks", "/v1/webhooks/{id}", "/v1/webhooks/{id}/test", "/v1/webhooks/{id}/rotate-secret"
		url := rcv.URL + "/hooks/ci?token=Hid3MyPath"
		add := `{"name": "ci", "url": "` + url + `", "events": ["APPROVAL_CREATED", "APPROVAL_EXECUTED"]}`

		call("POST", list, "/v1/webhooks", f.read, add).expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		call("POST", list, "/v1/webhooks", "", add).expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED", "")
		var added webhookSecretJSON
		r := call("POST", list, "/v1/webhooks", f.write, add)
		r.decode(t, http.StatusCreated, &added)
		ep := added.Webhook
		if !strings.HasPrefix(added.Secret, webhook.SecretPrefix) || ep.Name != "ci" || !ep.Enabled || ep.URLMasked != rcv.URL+"/••••" ||
			len(ep.Events) != 2 || r.Header.Get("Location") != "/v1/webhooks/"+ep.ID {
			t.Fatalf("added %s (Location %q)", r.Body, r.Header.Get("Location"))
		}
		call("POST", list, "/v1/webhooks", f.write, add).expectError(t, http.StatusConflict, "CONFLICT", "")

		var listed struct{ Webhooks []webhookJSON }
		call("GET", list, "/v1/webhooks", f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		r = call("GET", list, "/v1/webhooks", f.write, "")
		r.decode(t, http.StatusOK, &listed)
		if len(listed.Webhooks) != 1 || listed.Webhooks[0].ID != ep.ID {
			t.Fatalf("listed %s", r.Body)
		}
		if bytes.Contains(r.Body, []byte("Hid3MyPath")) || bytes.Contains(r.Body, []byte(added.Secret)) {
			t.Errorf("the list shows the URL's path or the secret: %s", r.Body)
		}

		// A change with an invalid field changes nothing, enabled included.
		call("PATCH", one, "/v1/webhooks/"+ep.ID, f.write, `{"url": "http://example.com/x", "enabled": false}`).
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "url")
		call("PATCH", one, "/v1/webhooks/"+ep.ID, f.read, `{"name": "renamed"}`).expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		var changed webhookJSON
		call("PATCH", one, "/v1/webhooks/"+ep.ID, f.write, `{"name": "renamed", "events": ["PIN_FAILED"], "enabled": false}`).
			decode(t, http.StatusOK, &changed)
		if changed.Name != "renamed" || changed.Enabled || len(changed.Events) != 1 || changed.Events[0] != "PIN_FAILED" {
			t.Fatalf("changed %+v", changed)
		}
		call("PATCH", one, "/v1/webhooks/"+ep.ID, f.write, `{"enabled": true}`).decode(t, http.StatusOK, &changed)
		if !changed.Enabled || changed.Name != "renamed" {
			t.Fatalf("re-enabled %+v", changed)
		}

		// A test request, signed with the secret.
		var tested struct {
			OK         bool
			StatusCode *int `json:"status_code"`
		}
		call("POST", test, "/v1/webhooks/"+ep.ID+"/test", f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		call("POST", test, "/v1/webhooks/"+ep.ID+"/test", f.write, "").decode(t, http.StatusOK, &tested)
		if !tested.OK || tested.StatusCode == nil || *tested.StatusCode != http.StatusNoContent {
			t.Fatalf("test %+v", tested)
		}
		req := rcv.next(t)
		if !signedBy(t, req, added.Secret) || !bytes.Contains(req.Body, []byte(`"type":"WEBHOOK_TEST"`)) {
			t.Errorf("test request %s %v", req.Body, req.Header)
		}

		// A rotation: both secrets sign during the overlap.
		call("POST", rotate, "/v1/webhooks/"+ep.ID+"/rotate-secret", f.write, `{"overlap_seconds": 9223372036}`).
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "overlap_seconds")
		call("POST", rotate, "/v1/webhooks/"+ep.ID+"/rotate-secret", f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		var rotated webhookSecretJSON
		call("POST", rotate, "/v1/webhooks/"+ep.ID+"/rotate-secret", f.write, `{"overlap_seconds": 600}`).decode(t, http.StatusOK, &rotated)
		if rotated.Secret == added.Secret || !strings.HasPrefix(rotated.Secret, webhook.SecretPrefix) || rotated.Webhook.PreviousSecretExpiresAt == nil {
			t.Fatalf("rotated %+v", rotated)
		}
		call("POST", test, "/v1/webhooks/"+ep.ID+"/test", f.write, "").decode(t, http.StatusOK, &tested)
		req = rcv.next(t)
		if !signedBy(t, req, rotated.Secret) || !signedBy(t, req, added.Secret) {
			t.Errorf("during the overlap, signatures %q", req.Header.Get("webhook-signature"))
		}
		// Without a body, the default overlap.
		call("POST", rotate, "/v1/webhooks/"+ep.ID+"/rotate-secret", f.write, "").decode(t, http.StatusOK, &rotated)
		if exp := rotated.Webhook.PreviousSecretExpiresAt; exp == nil || time.Until(*exp) < 23*time.Hour {
			t.Errorf("default overlap ends at %v", exp)
		}

		// Another project's key sees none of it.
		other := f.srv.SignUp("Other")
		_, otherKey := other.CreateAPIKey(other.CreateProject("elsewhere"), "WRITE")
		call("GET", list, "/v1/webhooks", otherKey, "").decode(t, http.StatusOK, &listed)
		if len(listed.Webhooks) != 0 {
			t.Errorf("another project lists %+v", listed.Webhooks)
		}
		for _, c := range []struct{ method, template, path, body string }{
			{"PATCH", one, "/v1/webhooks/" + ep.ID, `{"name": "mine"}`},
			{"DELETE", one, "/v1/webhooks/" + ep.ID, ""},
			{"POST", test, "/v1/webhooks/" + ep.ID + "/test", ""},
			{"POST", rotate, "/v1/webhooks/" + ep.ID + "/rotate-secret", ""},
		} {
			call(c.method, c.template, c.path, otherKey, c.body).expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		}

		// Bad input answers 400 and stores nothing.
		for _, c := range []struct{ body, field string }{
			{`{"name": "a\u0000b", "url": "` + url + `", "events": ["PIN_FAILED"]}`, "name"},
			{`{"name": "nul", "url": "` + url + `\u0000", "events": ["PIN_FAILED"]}`, "url"},
			{"{\"name\": \"bad\xff\", \"url\": \"" + url + "\", \"events\": [\"PIN_FAILED\"]}", "body"},
			{`{"name": "n", "url": "` + url + `", "events": "PIN_FAILED"}`, "events"},
			{`{"name": "n", "url": "` + url + `", "events": ["NOPE"]}`, "events"},
			{`{"name": "n", "url": "` + url + `", "events": []}`, "events"},
			{`{"name": "n", "url": "https://10.0.0.1/x", "events": ["PIN_FAILED"]}`, "url"},
			{`{"name": "n", "url": "https://localhost/x", "events": ["PIN_FAILED"]}`, "url"},
			{`{"name": "n", "url": "` + url + `", "events": ["PIN_FAILED"], "secret": "mine"}`, "secret"},
			{`{"name": 5, "url": "` + url + `", "events": ["PIN_FAILED"]}`, "name"},
		} {
			call("POST", list, "/v1/webhooks", f.write, c.body).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", c.field)
		}
		call("PATCH", one, "/v1/webhooks/"+ep.ID, f.write, `{"name": "x\u0000"}`).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "name")
		call("PATCH", one, "/v1/webhooks/"+ep.ID+"%00", f.write, `{}`).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")
		var n int64
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("webhook_endpoints").Count(&n).Error)
		if n != 1 {
			t.Errorf("%d endpoints stored, want 1", n)
		}

		call("DELETE", one, "/v1/webhooks/"+ep.ID, f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		if r := call("DELETE", one, "/v1/webhooks/"+ep.ID, f.write, ""); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
		call("DELETE", one, "/v1/webhooks/"+ep.ID, f.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
		call("GET", list, "/v1/webhooks", f.write, "").decode(t, http.StatusOK, &listed)
		if len(listed.Webhooks) != 0 {
			t.Errorf("after removal %+v", listed.Webhooks)
		}
		checkOpenAPI(t, answers)
	})
}
