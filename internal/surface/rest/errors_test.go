package rest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// An invalid create lists every problem, each in the REST API's field
// names (in its field and its message), with what the client sent quoted
// as sent.
func TestErrorsListEveryProblemInRESTNames(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		r := f.do("POST", "/v1/approvals", f.write, `{"key_path": "", "ttl_seconds": 1, "pin": "12", "max_pin_attempts": 0,
			"actions": [{"key": "go", "value": "yes", "style": "Secondary"}]}`)
		e := r.expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "key_path")
		got := map[string]string{}
		var order []string
		for _, p := range e.Error.Problems {
			got[p.Field] = p.Message
			order = append(order, p.Field)
		}
		if strings.Join(order, ",") != "key_path,actions,ttl_seconds,pin,max_pin_attempts" {
			t.Fatalf("problems %v: %s", order, r.Body)
		}
		for field, msg := range got {
			for _, graphQLName := range []string{"keyPath", "ttlSeconds", "maxPinAttempts"} {
				if strings.Contains(msg, graphQLName) {
					t.Errorf("%s: message %q names %s", field, msg, graphQLName)
				}
			}
		}
		if !strings.Contains(got["actions"], `"Secondary"`) || !strings.Contains(got["ttl_seconds"], "ttl_seconds must be") {
			t.Errorf("messages: %+v", got)
		}
		if !strings.Contains(e.Error.Message, "ttl_seconds") {
			t.Errorf("the message does not list every problem: %q", e.Error.Message)
		}
		// The API's own style names still work; upper case is kept, as before.
		f.create(`{"key_path": "a/b", "actions": [{"key": "go", "value": "yes", "style": "danger"}, {"key": "no", "value": "no", "style": "PRIMARY"}]}`)
	})
}
