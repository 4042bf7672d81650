package rest_test

import (
	"net/http"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The REST API calls the same domain services as GraphQL: NUL characters
// and invalid UTF-8 meet the same BAD_USER_INPUT on both databases, whether
// in JSON (escaped or raw) or in a key's raw value, and nothing is stored.
func TestNULAndInvalidUTF8AreBadInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		c := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
		for _, tc := range []struct{ name, body, field string }{
			{"escaped NUL in a value", `{"key_path": "a", "value": "x\u0000y"}`, "value"},
			{"escaped NUL in info", `{"key_path": "a", "value": "x", "info": "\u0000"}`, "info"},
			{"escaped NUL in an action", `{"key_path": "a", "actions": [{"key": "k", "value": "\u0000"}]}`, "actions"},
			{"raw NUL", "{\"key_path\": \"a\", \"value\": \"x\x00y\"}", "body"},
			{"invalid UTF-8", "{\"key_path\": \"a\", \"value\": \"\xff\"}", "body"},
		} {
			r := f.do("POST", "/v1/approvals", f.write, tc.body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d: %s", tc.name, r.Status, r.Body)
				continue
			}
			r.expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "")
		}
		f.do("PUT", "/v1/key/a", f.write, "x\x00y", "Content-Type", "text/plain").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "")
		f.do("PUT", "/v1/key/a", f.write, `"x\u0000y"`).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "")
		f.do("PUT", "/v1/key/a", f.write, "x\xffy", "Content-Type", "text/plain").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "body")
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, `{"reason": "\u0000"}`).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "")
		var n int64
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("approvals").Count(&n).Error)
		if n != 1 {
			t.Fatalf("%d approvals stored, want only the valid one", n)
		}
	})
}
