package rest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

type callbackSecretJSON struct {
	Exists                  bool
	CreatedAt               *time.Time `json:"created_at"`
	UpdatedAt               *time.Time `json:"updated_at"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	Secret                  *string
}

// The secret that signs a project's callbacks over REST, as GraphQL's
// rotateCallbackSecret: a WRITE key reads its state (never the secret)
// and rotates it (the new secret shown once, the previous one signing
// beside it during the overlap, as a callback shows); a READ key gets
// 403; another project's key sees its own project's only; bad input
// answers 400 and changes nothing; every answer matches the OpenAPI
// document.
func TestCallbackSecretOverREST(t *testing.T) {
	t.Parallel()
	testserver.NodeTools(t, "test/openapi")
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		rcv := newHookReceiver(t)
		f := setup(t, d, func(c *config.Config) { c.WebhookAllowedPrefixes = []string{rcv.URL + "/"} })
		var answers []recorded
		call := func(method, path, credential, body string) reply {
			t.Helper()
			r := f.do(method, path, credential, body)
			if len(r.Body) > 0 {
				answers = append(answers, recorded{method, path, r.Status, r.Body})
			}
			return r
		}
		const get, rotate = "/v1/callback-secret", "/v1/callback-secret/rotate"

		call("GET", get, "", "").expectError(t, http.StatusUnauthorized, "UNAUTHENTICATED", "")
		call("GET", get, f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		call("POST", rotate, f.read, "").expectError(t, http.StatusForbidden, "FORBIDDEN", "")
		var state callbackSecretJSON
		call("GET", get, f.write, "").decode(t, http.StatusOK, &state)
		if state.Exists || state.CreatedAt != nil || state.Secret != nil {
			t.Fatalf("before any secret: %+v", state)
		}

		// Bad input: 400, and no secret is created.
		for _, c := range []struct{ body, field string }{
			{`{"overlap_seconds": -1}`, "overlap_seconds"},
			{`{"overlap_seconds": 604801}`, "overlap_seconds"},
			{`{"overlap_seconds": 9223372036}`, "overlap_seconds"},
			{`{"overlap_seconds": "60"}`, "overlap_seconds"},
			{`{"secret": "mine"}`, "secret"},
			{"{\"overlap_seconds\": 60, \"x\": \"\xff\"}", "body"},
			{`{"overlap_seconds": 60, "x": "a\u0000"}`, "x"},
		} {
			r := call("POST", rotate, f.write, c.body)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "BAD_USER_INPUT") {
				t.Errorf("rotate with %q: %d %s, want 400 BAD_USER_INPUT", c.body, r.Status, r.Body)
			}
		}
		call("GET", get, f.write, "").decode(t, http.StatusOK, &state)
		if state.Exists {
			t.Fatalf("bad input created a secret: %+v", state)
		}

		// The first rotation creates it: shown once, only one signs.
		var first callbackSecretJSON
		call("POST", rotate, f.write, "").decode(t, http.StatusOK, &first)
		if !first.Exists || first.Secret == nil || !strings.HasPrefix(*first.Secret, webhook.SecretPrefix) || first.PreviousSecretExpiresAt != nil {
			t.Fatalf("first rotation: %+v", first)
		}
		r := call("GET", get, f.write, "")
		r.decode(t, http.StatusOK, &state)
		if !state.Exists || state.CreatedAt == nil || state.Secret != nil || strings.Contains(string(r.Body), *first.Secret) {
			t.Fatalf("state after creation: %s", r.Body)
		}

		// A callback is signed with it.
		created := f.create(`{"key_path": "ci/callback", "value": "approved", "callback_url": "` + rcv.URL + `/cb/1"}`)
		if created.ID == "" {
			t.Fatal("no approval created")
		}
		if req := rcv.next(t); !signedBy(t, req, *first.Secret) {
			t.Errorf("callback not signed with the secret: %q", req.Header.Get("webhook-signature"))
		}

		// A rotation with an overlap: both sign.
		var second callbackSecretJSON
		call("POST", rotate, f.write, `{"overlap_seconds": 600}`).decode(t, http.StatusOK, &second)
		if second.Secret == nil || *second.Secret == *first.Secret || second.PreviousSecretExpiresAt == nil ||
			time.Until(*second.PreviousSecretExpiresAt) < 9*time.Minute {
			t.Fatalf("second rotation: %+v", second)
		}
		call("GET", get, f.write, "").decode(t, http.StatusOK, &state)
		if state.PreviousSecretExpiresAt == nil || !state.PreviousSecretExpiresAt.Equal(*second.PreviousSecretExpiresAt) {
			t.Errorf("state during the overlap: %+v", state)
		}
		f.create(`{"key_path": "ci/callback2", "value": "approved", "callback_url": "` + rcv.URL + `/cb/2"}`)
		if req := rcv.next(t); !signedBy(t, req, *second.Secret) || !signedBy(t, req, *first.Secret) {
			t.Errorf("during the overlap, signatures %q", req.Header.Get("webhook-signature"))
		}
		// Overlap 0: the previous one stops at once.
		var third callbackSecretJSON
		call("POST", rotate, f.write, `{"overlap_seconds": 0}`).decode(t, http.StatusOK, &third)
		if third.Secret == nil || third.PreviousSecretExpiresAt != nil {
			t.Errorf("rotation without overlap: %+v", third)
		}

		// Another project's key has a secret of its own, or none.
		other := f.srv.SignUp("Other")
		_, otherKey := other.CreateAPIKey(other.CreateProject("elsewhere"), "WRITE")
		call("GET", get, otherKey, "").decode(t, http.StatusOK, &state)
		if state.Exists {
			t.Errorf("another project sees a secret: %+v", state)
		}

		checkOpenAPI(t, answers)
	})
}
