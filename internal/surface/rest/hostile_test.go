package rest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// noRedirects sends a request without following redirects, so that a
// redirect is seen as such.
func (f *fixture) noRedirects(method, path, credential, body string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+credential)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// A key path with ".", ".." or empty segments names no key: the URL
// answers 400 instead of a redirect to the cleaned path (another key), and
// the body's key_path is refused the same way.
func TestUncleanKeyPathsAreRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		var value *string
		f.do("PUT", "/v1/key/prod", f.write, `"untouched"`).decode(t, http.StatusOK, &value)

		for _, p := range []string{
			"/v1/key/deploy/../prod",
			"/v1/key/deploy/./prod",
			"/v1/key/./prod",
			"/v1/key/deploy/..",
			"/v1/key/deploy/%2e%2e/prod",
			"/v1/key/deploy%2F..%2Fprod",
			"/v1/key/deploy//prod",
			"/v1/key//prod",
			"/v1/key/deploy/../prod/pending",
			"/v1/approvals/../key/prod",
		} {
			for _, method := range []string{"GET", "PUT"} {
				r := f.noRedirects(method, p, f.write, `"changed"`)
				if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" {
					t.Errorf("%s %s: status %d, Location %q: %s", method, p, r.Status, r.Header.Get("Location"), r.Body)
					continue
				}
				if e := r.expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path"); !strings.Contains(e.Error.Message, "'..'") {
					t.Errorf("%s %s: message %q does not say what is wrong", method, p, e.Error.Message)
				}
			}
		}
		// A trailing slash is clean for the router, and the domain refuses it.
		f.noRedirects("GET", "/v1/key/prod/", f.write, "").expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "path")

		for _, kp := range []string{"deploy/../prod", "deploy/./prod", "..", "./prod", "deploy/.."} {
			f.do("POST", "/v1/approvals", f.write, `{"key_path": "`+kp+`", "value": "changed"}`).
				expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "key_path")
		}
		// Dots within a segment are fine.
		f.do("PUT", "/v1/key/v1.2/...", f.write, `"ok"`).decode(t, http.StatusOK, &value)

		f.do("GET", "/v1/key/prod", f.read, "").decode(t, http.StatusOK, &value)
		if value == nil || *value != "untouched" {
			t.Errorf("prod reads %v, want untouched", value)
		}
		var n int64
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("approvals").Count(&n).Error)
		if n != 0 {
			t.Errorf("%d approvals stored, want none", n)
		}
	})
}

// Every REST body is decoded strictly: a lone surrogate escape, a field
// given twice, a field in another case and an unknown field are refused
// with a 400 that names the field, and nothing is stored.
func TestStrictJSONBodies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		c := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
		for _, tc := range []struct {
			name, body, field, message string
		}{
			{"lone high surrogate", `{"key_path": "a", "value": "x\ud800"}`, "value", "lone UTF-16 surrogate"},
			{"lone low surrogate", `{"key_path": "a", "value": "\udc00x"}`, "value", "lone UTF-16 surrogate"},
			{"high surrogate then a letter", `{"key_path": "a", "value": "\ud800\u0041"}`, "value", "lone UTF-16 surrogate"},
			{"reversed pair", `{"key_path": "a", "value": "\ude00\ud83d"}`, "value", "lone UTF-16 surrogate"},
			{"surrogate in info", `{"key_path": "a", "value": "x", "info": "\uDBFF"}`, "info", "lone UTF-16 surrogate"},
			{"surrogate in an action", `{"key_path": "a", "actions": [{"key": "k", "value": "\ud800"}]}`, "actions[0].value", "lone UTF-16 surrogate"},
			{"surrogate in a name", `{"key_path": "a", "value": "x", "\ud800": 1}`, "body", "lone UTF-16 surrogate"},
			{"duplicate key", `{"key_path": "a", "value": "x", "key_path": "b"}`, "key_path", "twice"},
			{"duplicate key by escape", `{"key_path": "a", "value": "x", "key_p\u0061th": "b"}`, "key_path", "twice"},
			{"duplicate in an action", `{"key_path": "a", "actions": [{"key": "k", "value": "v", "key": "j"}]}`, "actions[0].key", "twice"},
			{"upper-case name", `{"KEY_PATH": "a", "value": "x"}`, "KEY_PATH", `did you mean "key_path"`},
			{"mixed-case name", `{"key_path": "a", "Value": "x"}`, "Value", `did you mean "value"`},
			{"both cases", `{"key_path": "a", "value": "x", "Key_Path": "b"}`, "Key_Path", "case-sensitive"},
			{"upper-case in an action", `{"key_path": "a", "actions": [{"KEY": "k", "value": "v"}]}`, "actions[0].KEY", `did you mean "key"`},
			{"unknown field", `{"key_path": "a", "value": "x", "colour": "red"}`, "colour", `unknown field "colour"`},
			{"wrong type in an action", `{"key_path": "a", "actions": [{"key": 1, "value": "v"}]}`, "actions[0].key", "JSON string"},
			{"invalid escape", `{"key_path": "a", "value": "\x"}`, "value", "invalid escape"},
			{"deep nesting", `{"key_path": "a", "value": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "body", "too deeply"},
		} {
			r := f.do("POST", "/v1/approvals", f.write, tc.body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d: %s", tc.name, r.Status, r.Body)
				continue
			}
			if e := r.expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", tc.field); !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("%s: message %q, want it to say %q", tc.name, e.Error.Message, tc.message)
			}
		}
		// A proper surrogate pair is a character like any other.
		ok := f.create(`{"key_path": "emoji", "value": "\ud83d\ude00"}`)

		// The other bodies: invalidate and a JSON key value.
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, `{"reason": "\ud800"}`).
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "reason")
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, `{"reason": "a", "reason": "b"}`).
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "reason")
		f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, `{"Reason": "a"}`).
			expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "Reason")
		if e := f.do("PUT", "/v1/key/a", f.write, `"x\udfff"`).expectError(t, http.StatusBadRequest, "BAD_USER_INPUT", "value"); !strings.Contains(e.Error.Message, "surrogate") {
			t.Errorf("PUT of a lone surrogate: message %q", e.Error.Message)
		}

		if got := f.approval(c.ID, ""); got.Status != "pending" {
			t.Errorf("approval %s after refused invalidations: %s", c.ID, got.Status)
		}
		var n int64
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("approvals").Count(&n).Error)
		if n != 2 {
			t.Errorf("%d approvals stored, want only the two valid ones (%s, %s)", n, c.ID, ok.ID)
		}
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("key_values").Where("path = ?", "a").Count(&n).Error)
		if n != 0 {
			t.Errorf("key a was stored")
		}
		storetest.Must(t, f.srv.App.Store.DB(t.Context()).Table("events").Where("type = ?", "APPROVAL_INVALIDATED").Count(&n).Error)
		if n != 0 {
			t.Errorf("%d invalidation events", n)
		}
	})
}
