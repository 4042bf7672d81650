package surrogate

import (
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/apperr"
)

func TestInJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{"a":"x"}`, -1},
		{`{"a":"\ud800"}`, 6},
		{`{"a":"\uDFFF"}`, 6},
		{`{"a":"\ud83d\ude00"}`, -1},          // a pair
		{`{"a":"\ud83d\u0041"}`, 6},           // a leading half before another escape
		{`{"a":"\ude00\ud83d"}`, 6},           // the halves the wrong way round
		{`{"a":"\\ud800"}`, -1},               // an escaped backslash, then text
		{`{"a":"\\\ud800"}`, 8},               // an escaped backslash, then the escape
		{`{"a":"\"\ud800"}`, 8},               // an escaped quote, then the escape
		{`{"a":"\u00e9\u0000"}`, -1},          // other escapes
		{`{"a":"\ud800`, 6},                   // cut short
		{`{"a":"\ud8"}`, -1},                  // not an escape: the decoder refuses it
		{`{"a":"\ud83d\ude0"}`, 6},            // a trailing half cut short
		{`{"q":"{ f(a: \"\\ud800\") }"}`, -1}, // a GraphQL escape inside a JSON string
	} {
		if got := InJSON(tc.in); got != tc.want {
			t.Errorf("InJSON(%s) = %d, want %d", tc.in, got, tc.want)
		}
		if got := InJSON([]byte(tc.in)); got != tc.want {
			t.Errorf("InJSON([]byte(%s)) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestInGraphQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{ f(a: "x") }`, -1},
		{`{ f(a: "\ud800") }`, 8},
		{`{ f(a: "\ud83d\ude00") }`, -1},
		{`{ f(a: "\\ud800") }`, -1},
		{`{ f(a: "\"\ud800") }`, 10},
		{`{ f(a: """\ud800""") }`, -1},          // a block string escapes nothing
		{`{ f(a: """\"""\ud800""") }`, -1},      // \""" inside a block string
		{`{ f(a: """x""", b: "\udc00") }`, 20},  // after a block string
		{`{ f(a: """x"""", b: "\udc00") }`, 21}, // four quotes end the block string with their last three, as gqlparser reads them
		{"# \"\\ud800\n{ f(a: \"x\") }", -1},    // a comment
		{"{ f(a: \"x\") } # \\ud800", -1},
	} {
		if got := InGraphQL(tc.in); got != tc.want {
			t.Errorf("InGraphQL(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestFindNamesThePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"query":"{ x }","variables":{"input":{"actions":[{"key":"a"},{"label":"\ud800"}]}}}`, "variables.input.actions[1].label"},
		{`{"variables":{"a":1,"b":[1,"x",["\udc00"]]}}`, "variables.b[2][0]"},
		{`{"variables":{"\ud800":"x"}}`, "variables.\ufffd"},
		{`{"query":"\ud800"}`, "query"},
		{`"\ud800"`, ""},
		{`{"variables":{"a":{"b":{}},"c":"\ud800"}}`, "variables.c"},
	} {
		got, found := Find([]byte(tc.in))
		if !found || got != tc.want {
			t.Errorf("Find(%s) = %q %v, want %q", tc.in, got, found, tc.want)
		}
	}
	if _, found := Find([]byte(`{"a":"\ud83d\ude00"}`)); found {
		t.Error("found a lone surrogate in a pair")
	}
}

func TestRefusal(t *testing.T) {
	t.Parallel()
	e := Refusal("variables.input.info")
	if e.Code != apperr.CodeBadUserInput || e.Field != "input.info" || !strings.HasPrefix(e.Message, "variable $input.info contains") {
		t.Errorf("got %#v", e)
	}
	if e := Refusal("query"); e.Field != "query" || !strings.HasPrefix(e.Message, "query contains") {
		t.Errorf("got %#v", e)
	}
}

// The scan of a large body costs a pass over its bytes.
func BenchmarkInJSON(b *testing.B) {
	body := []byte(`{"query":"mutation($i: CreateApprovalInput!) { createApproval(input: $i) { url } }","variables":{"i":{"info":"` +
		strings.Repeat(`caf\u00e9 \"quoted\" \\ back `, 20000) + `"}}}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if InJSON(body) >= 0 {
			b.Fatal("found one")
		}
	}
}
