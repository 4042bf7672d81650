package graph

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The answer written without encoding/json's second pass over the data is
// byte for byte what encoding/json writes: the same keys in the same
// order, the data escaped for HTML the same way.
func TestWriteResponseIsEncodingJSONs(t *testing.T) {
	hasNext := false
	for name, resp := range map[string]*graphql.Response{
		"data":           {Data: json.RawMessage(`{"approval":{"id":"a1","title":"ok"}}`)},
		"html in data":   {Data: json.RawMessage(`{"t":"<script>alert(1)</script> & \u2028 \u2029 é"}`)},
		"null data":      {Data: json.RawMessage(`null`)},
		"errors":         {Data: json.RawMessage(`{"a":null}`), Errors: gqlerror.List{{Message: "<no>", Path: ast.Path{ast.PathName("a")}, Extensions: map[string]any{"code": "NOT_FOUND"}}}},
		"extensions":     {Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"cost": 3}},
		"incremental":    {Data: json.RawMessage(`{"a":1}`), HasNext: &hasNext, Label: "l"},
		"errors and ext": {Data: json.RawMessage(`{}`), Errors: gqlerror.List{{Message: "x"}}, Extensions: map[string]any{"k": "<&>"}},
	} {
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		writeResponse(&got, resp)
		if got.String() != string(want) {
			t.Errorf("%s: wrote\n%s\nencoding/json writes\n%s", name, got.String(), want)
		}
	}
}
