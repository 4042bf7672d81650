package graph

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// postGraphQL sends body to a handler with no services: a request that
// reaches a resolver panics, which the answer shows as INTERNAL.
func postGraphQL(t *testing.T, h http.Handler, body string) (code, field, message string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		Data   json.RawMessage
		Errors []struct {
			Message    string
			Path       []any
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Errors) == 0 {
		t.Fatalf("%s: %d %s, want an error", body, rec.Code, rec.Body)
	}
	e := out.Errors[0]
	code, _ = e.Extensions["code"].(string)
	field, _ = e.Extensions["field"].(string)
	if code != "INTERNAL" && (len(out.Data) > 0 && string(out.Data) != "null" || e.Path != nil) {
		t.Errorf("%s: %s, want a request error: no data, no path", body, rec.Body)
	}
	return code, field, e.Message
}

func quietHandler() http.Handler {
	return NewHandler(&Resolver{}, HandlerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// Variables are coerced as the spec says, not as gqlparser allows: a
// string is no Int, a number no String, an Int fits in 32 bits. Each
// refusal is a request error with BAD_USER_INPUT naming the variable.
func TestVariablesAreCoercedStrictly(t *testing.T) {
	t.Parallel()
	h := quietHandler()
	const create = `mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url } }`
	const invalidate = `mutation($id: ID!, $r: String) { invalidateApproval(id: $id, reason: $r) { id } }`
	for _, tc := range []struct {
		name, query, vars, field, says string
	}{
		{"string for a nested Int", create, `{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":"600"}}`, "i.ttlSeconds", "not a string"},
		{"fraction for a nested Int", create, `{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":600.5}}`, "i.ttlSeconds", "Int"},
		{"exponent for a nested Int", create, `{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":6e2}}`, "i.ttlSeconds", "Int"},
		{"nested Int past 32 bits", create, `{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":4294967896}}`, "i.ttlSeconds", "2147483647"},
		{"boolean for a nested Int", create, `{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":true}}`, "i.ttlSeconds", "Int"},
		{"number for a nested String", create, `{"p":"x","i":{"keyPath":5,"value":"v"}}`, "i.keyPath", "not the number 5"},
		{"number in a list of objects", create, `{"p":"x","i":{"keyPath":"k","actions":[{"key":"a","value":"v"},{"key":"b","value":7}]}}`, "i.actions[1].value", "String"},
		{"enum in the wrong case", create, `{"p":"x","i":{"keyPath":"k","actions":[{"key":"a","value":"v","style":"primary"}]}}`, "i.actions[0].style", "PRIMARY"},
		{"fraction for an ID", create, `{"p":1.5,"i":{"keyPath":"k","value":"v"}}`, "p", "ID"},
		{"boolean for an ID", create, `{"p":true,"i":{"keyPath":"k","value":"v"}}`, "p", "ID"},
		{"number for a String", invalidate, `{"id":"x","r":5}`, "r", "not the number 5"},
		{"object for a String", invalidate, `{"id":"x","r":{"a":1}}`, "r", "String"},
		// gqlparser's own refusals (the last five, and the fraction, the
		// boolean and the object above) keep their message, with the code
		// and the field.
		{"null for a String!", create, `{"p":"x","i":{"keyPath":null,"value":"v"}}`, "i.keyPath", "cannot be null"},
		{"missing variable", create, `{"p":"x"}`, "i", "must be defined"},
		{"unknown field", create, `{"p":"x","i":{"keyPath":"k","value":"v","nope":1}}`, "i.nope", "unknown field"},
		{"object for an input", create, `{"p":"x","i":3}`, "i", "CreateApprovalInput"},
	} {
		body := `{"query":` + strconvQuote(tc.query) + `,"variables":` + tc.vars + `}`
		code, field, msg := postGraphQL(t, h, body)
		if code != "BAD_USER_INPUT" || field != tc.field || !strings.Contains(msg, tc.says) || !strings.Contains(msg, "$"+tc.field) {
			t.Errorf("%s: %s %q %q, want BAD_USER_INPUT on %q saying %q", tc.name, code, field, msg, tc.field, tc.says)
		}
	}
}

// Values the spec allows pass the check (and reach the resolver, which
// without services fails with INTERNAL).
func TestVariablesTheSpecAllowsPass(t *testing.T) {
	t.Parallel()
	h := quietHandler()
	const create = `mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url } }`
	for _, vars := range []string{
		`{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":600}}`,
		`{"p":42,"i":{"keyPath":"k","value":"v","ttlSeconds":-2147483648}}`,
		`{"p":"x","i":{"keyPath":"k","actions":{"key":"a","value":"v","style":"PRIMARY"}}}`, // one value for a list
		`{"p":"x","i":{"keyPath":"k","value":"v","ttlSeconds":null,"info":null}}`,
	} {
		code, _, msg := postGraphQL(t, h, `{"query":`+strconvQuote(create)+`,"variables":`+vars+`}`)
		if code != "INTERNAL" {
			t.Errorf("%s: %s %q, want the resolver to run", vars, code, msg)
		}
	}
}

// An escaped lone surrogate in a string value of the document is refused
// with the argument it is in named; a pair, or the text of a block string,
// is not.
func TestDocumentLoneSurrogates(t *testing.T) {
	t.Parallel()
	h := quietHandler()
	for _, tc := range []struct{ query, field string }{
		{`mutation { invalidateApproval(id: "x", reason: "a\ud800b") { id } }`, "reason"},
		{`mutation { invalidateApproval(id: "\udc00", reason: "ok") { id } }`, "id"},
		{`mutation { createApproval(projectId: "p", input: {keyPath: "k", actions: [{key: "a", value: "\ud83d\u0041"}]}) { url } }`, "input.actions[0].value"},
		{`mutation ($r: String = "\ud800") { invalidateApproval(id: "x", reason: $r) { id } }`, "query"},
		{"mutation { invalidateApproval(id: \"x\", reason: \"caf\u00e9 \\ud800\") { id } }", "reason"}, // positions count runes
	} {
		code, field, msg := postGraphQL(t, h, `{"query":`+strconvQuote(tc.query)+`}`)
		if code != "BAD_USER_INPUT" || field != tc.field || !strings.Contains(msg, "surrogate") {
			t.Errorf("%s: %s %q %q, want BAD_USER_INPUT on %s", tc.query, code, field, msg, tc.field)
		}
	}
	for _, q := range []string{
		`mutation { invalidateApproval(id: "x", reason: "\ud83d\ude00") { id } }`,
		`mutation { invalidateApproval(id: "x", reason: """\ud800""") { id } }`,
		`mutation { invalidateApproval(id: "x", reason: "\\ud800") { id } }`,
	} {
		if code, _, msg := postGraphQL(t, h, `{"query":`+strconvQuote(q)+`}`); code != "INTERNAL" {
			t.Errorf("%s: %s %q, want the resolver to run", q, code, msg)
		}
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A Time that does not parse, written in the document or sent as a
// variable, is a request error naming it, before any resolver runs: not a
// field error that nulls the field's parent.
func TestBadTimeIsARequestError(t *testing.T) {
	t.Parallel()
	h := quietHandler()
	const approvals = `query($p: ID!, $f: ApprovalFilter, $t: Time) { project(id: $p) { approvals(filter: $f) { totalCount } other: approvals(filter: {createdBefore: $t}) { totalCount } } }`
	for _, tc := range []struct{ name, query, vars, field, says string }{
		{"literal word", `{ project(id: "p") { approvals(filter: {createdAfter: "yesterday"}) { totalCount } } }`, `{}`, "filter.createdAfter", "RFC 3339"},
		{"literal number", `{ project(id: "p") { approvals(filter: {createdAfter: 5}) { totalCount } } }`, `{}`, "filter.createdAfter", "RFC 3339"},
		{"literal in a fragment", `{ project(id: "p") { ...A } } fragment A on Project { approvals(filter: {status: PENDING, createdBefore: "2026-13-01T00:00:00Z"}) { totalCount } }`, `{}`, "filter.createdBefore", "Time"},
		{"literal in an inline fragment", `{ node(id: "p") { ... on Project { events(filter: {occurredAfter: "now"}) { totalCount } } } }`, `{}`, "filter.occurredAfter", "Time"},
		{"variable", approvals, `{"p":"x","t":"yesterday"}`, "t", "not a string in another format"},
		{"variable in an object", approvals, `{"p":"x","f":{"createdAfter":"2026-01-02"}}`, "f.createdAfter", "RFC 3339"},
		{"number variable", approvals, `{"p":"x","t":1767312000}`, "t", "not the number 1767312000"},
		{"default value", `query($p: ID!, $t: Time = "soon") { project(id: $p) { approvals(filter: {createdAfter: $t}) { totalCount } } }`, `{"p":"x"}`, "t", "Time"},
	} {
		body := `{"query":` + strconvQuote(tc.query) + `,"variables":` + tc.vars + `}`
		code, field, msg := postGraphQL(t, h, body)
		if code != "BAD_USER_INPUT" || field != tc.field || !strings.Contains(msg, tc.says) || !strings.Contains(msg, tc.field) {
			t.Errorf("%s: %s %q %q, want BAD_USER_INPUT on %q saying %q", tc.name, code, field, msg, tc.field, tc.says)
		}
	}
	// Times the scalar parses reach the resolver (INTERNAL without services).
	for _, q := range []string{
		`{ project(id: "p") { approvals(filter: {createdAfter: "2026-01-02T15:04:05Z", createdBefore: "2026-01-02T15:04:05.123456789+02:00"}) { totalCount } } }`,
		`{ project(id: "p") { approvals(filter: {createdAfter: null}) { totalCount } } }`,
	} {
		if code, _, msg := postGraphQL(t, h, `{"query":`+strconvQuote(q)+`}`); code != "INTERNAL" {
			t.Errorf("%s: %s %q, want the resolver to run", q, code, msg)
		}
	}
}
