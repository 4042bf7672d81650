package rest_test

import (
	"net/http"
	"testing"

	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
)

// The REST API calls the same domain services as GraphQL: a NUL character
// in a text is BAD_USER_INPUT there too (the REST handlers refuse a body
// that is not UTF-8 themselves); nothing is stored.
func TestNULAndInvalidUTF8AreBadInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		f.do("POST", "/v1/approvals", f.write, `{"key_path": "deploy", "value": "yes", "info": "a\u0000b"}`).
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "info")
		f.do("POST", "/v1/approvals", f.write, "{\"key_path\": \"deploy\", \"value\": \"yes\", \"info\": \"a\xffb\"}").
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "body")
		var n int64
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("approvals").Count(&n).Error)
		if n != 0 {
			t.Fatalf("%d approvals stored", n)
		}
	})
}
