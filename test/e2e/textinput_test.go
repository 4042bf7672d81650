package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ottr/backend/graph"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// textInput is one place of the schema where a client sends text: a
// String or ID argument of a root field, or a String or ID field (at any
// depth, in lists too) of an input object argument.
type textInput struct {
	op    ast.Operation
	field *ast.FieldDefinition
	arg   *ast.ArgumentDefinition
	path  []string // input object fields from the argument down to the text
}

func (in textInput) String() string {
	return strings.Join(append([]string{string(in.op), in.field.Name, in.arg.Name}, in.path...), ".")
}

// textInputs lists every text input of the schema the server runs, so that
// a new one is tested as soon as it exists.
func textInputs(schema *ast.Schema) []textInput {
	return scalarInputs(schema, "String", "ID")
}

// scalarInputs lists every place of the schema where a client sends a
// value of one of the scalars named.
func scalarInputs(schema *ast.Schema, scalars ...string) []textInput {
	var out []textInput
	for op, root := range map[ast.Operation]*ast.Definition{
		ast.Query: schema.Query, ast.Mutation: schema.Mutation, ast.Subscription: schema.Subscription,
	} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			for _, a := range f.Arguments {
				for _, path := range scalarPaths(schema, a.Type, scalars, map[string]bool{}) {
					out = append(out, textInput{op: op, field: f, arg: a, path: path})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// scalarPaths are the paths to the values of the scalars named inside a
// value of type t.
func scalarPaths(schema *ast.Schema, t *ast.Type, scalars []string, seen map[string]bool) [][]string {
	if t.Elem != nil {
		return scalarPaths(schema, t.Elem, scalars, seen)
	}
	if slices.Contains(scalars, t.NamedType) {
		return [][]string{nil}
	}
	def := schema.Types[t.NamedType]
	if def == nil || def.Kind != ast.InputObject || seen[def.Name] {
		return nil
	}
	seen[def.Name] = true
	defer delete(seen, def.Name)
	var out [][]string
	for _, f := range def.Fields {
		for _, p := range scalarPaths(schema, f.Type, scalars, seen) {
			out = append(out, append([]string{f.Name}, p...))
		}
	}
	return out
}

// scalar is the name of the scalar the input takes.
func (in textInput) scalar(schema *ast.Schema) string {
	t := in.arg.Type
	for _, name := range in.path {
		for t.Elem != nil {
			t = t.Elem
		}
		t = schema.Types[t.NamedType].Fields.ForName(name).Type
	}
	for t.Elem != nil {
		t = t.Elem
	}
	return t.NamedType
}

// sample is a valid-looking value of type t, with bad at path (nil: no
// text to replace).
func sample(schema *ast.Schema, t *ast.Type, path []string, bad any) any {
	if t.Elem != nil {
		return []any{sample(schema, t.Elem, path, bad)}
	}
	switch t.NamedType {
	case "String", "ID":
		if path != nil && len(path) == 0 {
			return bad
		}
		return "x"
	case "Int":
		if path != nil && len(path) == 0 {
			return bad
		}
		return 1
	case "Float":
		return 1.5
	case "Boolean":
		return true
	case "Time":
		return "2030-01-01T00:00:00Z"
	}
	def := schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Enum:
		return def.EnumValues[0].Name
	case ast.InputObject:
		obj := map[string]any{}
		for _, f := range def.Fields {
			switch {
			case path != nil && len(path) > 0 && path[0] == f.Name:
				obj[f.Name] = sample(schema, f.Type, path[1:], bad)
			case f.Type.NonNull:
				obj[f.Name] = sample(schema, f.Type, nil, bad)
			}
		}
		return obj
	}
	panic("no sample for " + t.String())
}

// request is the operation that sends bad at the text input, every other
// required argument filled in, as variables.
func (in textInput) request(schema *ast.Schema, bad any) map[string]any {
	var decls, args []string
	vars := map[string]any{}
	for i, a := range in.field.Arguments {
		var path []string
		switch {
		case a == in.arg:
			path = in.path
			if path == nil {
				path = []string{}
			}
		case !a.Type.NonNull:
			continue
		}
		name := fmt.Sprintf("a%d", i)
		decls = append(decls, "$"+name+": "+a.Type.String())
		args = append(args, a.Name+": $"+name)
		vars[name] = sample(schema, a.Type, path, bad)
	}
	selection := ""
	if def := schema.Types[in.field.Type.Name()]; def.Kind != ast.Scalar && def.Kind != ast.Enum {
		selection = " { __typename }"
	}
	query := fmt.Sprintf("%s(%s) { %s(%s)%s }", in.op, strings.Join(decls, ", "), in.field.Name, strings.Join(args, ", "), selection)
	return map[string]any{"query": query, "variables": vars}
}

// TestEveryInputRefusesBadValues sends, on both databases, to every text
// input and ID argument of the schema a NUL character, bytes that are not
// UTF-8, an escaped lone UTF-16 surrogate and a value of another JSON type
// (a number for a String, a boolean for an ID, which may be an integer);
// and to every Int a string that reads as a number, a fraction, an
// integer past 32 bits and a boolean. Each answers BAD_USER_INPUT, never
// INTERNAL, and nothing is stored.
func TestEveryInputRefusesBadValues(t *testing.T) {
	t.Parallel()
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{}}).Schema()
	texts, ints := textInputs(schema), scalarInputs(schema, "Int")
	if len(texts) < 30 || len(ints) < 4 {
		t.Fatalf("found only %d text inputs and %d Int inputs in the schema: %v %v", len(texts), len(ints), texts, ints)
	}
	type badRequest struct {
		what      string
		body      []byte
		wantField bool
	}
	var requests []badRequest
	for _, in := range texts {
		body, _ := json.Marshal(in.request(schema, "a\x00b"))
		var wrong any = 5
		if in.scalar(schema) == "ID" {
			wrong = true
		}
		wrongBody, _ := json.Marshal(in.request(schema, wrong))
		requests = append(requests,
			badRequest{in.String() + " with NUL", body, true},
			// encoding/json writes neither invalid UTF-8 nor a lone
			// surrogate: put them in by hand.
			badRequest{in.String() + " with invalid UTF-8", bytes.Replace(body, []byte(`a\u0000b`), []byte("a\xff\xfeb"), 1), false},
			badRequest{in.String() + " with a lone surrogate", bytes.Replace(body, []byte(`a\u0000b`), []byte(`a\ud800b`), 1), true},
			badRequest{fmt.Sprintf("%s with %v", in, wrong), wrongBody, true})
	}
	for _, in := range ints {
		for _, bad := range []any{"20", 20.5, json.Number("4294967316"), false} {
			body, _ := json.Marshal(in.request(schema, bad))
			requests = append(requests, badRequest{fmt.Sprintf("%s with %#v", in, bad), body, true})
		}
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("p")
		rowsBefore := countRows(t, srv)
		// A few at a time: the requests are independent, and each is short.
		var wg sync.WaitGroup
		next := make(chan badRequest)
		for range 4 {
			wg.Go(func() {
				for r := range next {
					expectBadInput(t, srv, alice.AccessToken, r.what, r.body, r.wantField)
				}
			})
		}
		for _, r := range requests {
			next <- r
		}
		close(next)
		wg.Wait()
		if after := countRows(t, srv); !maps.Equal(after, rowsBefore) {
			t.Fatalf("rows by table went from %v to %v", rowsBefore, after)
		}
		// The project the IDs could have reached is untouched.
		alice.MustDo(`query($p: ID!) { project(id: $p) { id } }`, map[string]any{"p": pid}, nil)
	})
}

func expectBadInput(t *testing.T, srv *testserver.Server, token, what string, body []byte, wantField bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	storetest.Must(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ Errors []testserver.GQLError }
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: status %d, %v: %s", what, resp.StatusCode, err, raw)
	}
	if len(out.Errors) == 0 || out.Errors[0].Code() != "BAD_USER_INPUT" {
		t.Errorf("%s: %s, want BAD_USER_INPUT", what, raw)
		return
	}
	if wantField && out.Errors[0].Field() == "" {
		t.Errorf("%s: %s, want extensions.field", what, raw)
	}
}

// countRows counts the rows of the tables a text input could reach.
func countRows(t *testing.T, srv *testserver.Server) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range []string{"users", "refresh_tokens", "projects", "project_members", "api_keys", "approvals", "key_values", "events", "slack_channels", "deliveries", "webhook_endpoints", "webhook_deliveries"} {
		var n int64
		storetest.Must(t, srv.App.Store.DB(t.Context()).Table(table).Count(&n).Error)
		out[table] = n
	}
	return out
}

// Over websockets the bytes arrive unchecked by HTTP: graphql-transport-ws
// answers the operation with BAD_USER_INPUT and goes on, graphql-ws closes
// with 1007 as RFC 6455 asks of a text message that is not UTF-8.
func TestWebsocketOperationsMustBeUTF8(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("p")
	op := []byte(`{"query":"mutation { createProject(input: {name: \"a` + "\xff" + `b\"}) { id } }"}`)

	ws := srv.Connect(testserver.TransportWS, alice.AccessToken)
	storetest.Must(t, ws.Conn.Write(t.Context(), websocket.MessageText, append(append([]byte(`{"type":"subscribe","id":"bad","payload":`), op...), '}')))
	m := ws.Read()
	var errs []testserver.GQLError
	_ = json.Unmarshal(m.Payload, &errs)
	if m.Type != "error" || m.ID != "bad" || len(errs) != 1 || errs[0].Code() != "BAD_USER_INPUT" {
		t.Fatalf("graphql-transport-ws: %s %s %s, want an error message with BAD_USER_INPUT", m.Type, m.ID, m.Payload)
	}
	if r := ws.Subscribe(`query($p: ID!) { project(id: $p) { id } }`, map[string]any{"p": pid}).Next(); len(r.Errors) > 0 {
		t.Fatalf("the connection does not go on: %+v", r.Errors)
	}

	legacy := srv.Connect(testserver.LegacyWS, alice.AccessToken)
	storetest.Must(t, legacy.Conn.Write(t.Context(), websocket.MessageText, append(append([]byte(`{"type":"start","id":"bad","payload":`), op...), '}')))
	if code, _ := legacy.CloseStatus(); code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("graphql-ws closed with %d, want 1007", code)
	}
	var projects struct{ Projects []struct{ Name string } }
	alice.MustDo(`{ projects { name } }`, nil, &projects)
	if len(projects.Projects) != 1 {
		t.Fatalf("projects %+v, want only the first", projects.Projects)
	}
}

// An escaped lone surrogate is refused with BAD_USER_INPUT naming its
// place on every transport, in a variable (JSON) and in a string value
// of the document (GraphQL); decoded, it would have become U+FFFD. A pair
// is one character and passes.
func TestLoneSurrogatesOverEveryTransport(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	alice := srv.SignUp("Alice")
	const withVar = `mutation($n: String!) { createProject(input: {name: $n}) { id } }`
	const literal = `mutation { createProject(input: {name: "a\ud800b"}) { id } }`
	varsJSON := `{"n":"a\ud800b"}`
	post := func(body, accept string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		storetest.Must(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	get := func(params url.Values) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/query?"+params.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		storetest.Must(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	firstError := func(raw []byte) testserver.GQLError {
		// An event stream's data line, or a JSON answer.
		if i := bytes.Index(raw, []byte("data: ")); i >= 0 {
			raw = raw[i+len("data: "):]
			raw = raw[:bytes.IndexByte(raw, '\n')]
		}
		var out struct{ Errors []testserver.GQLError }
		_ = json.Unmarshal(raw, &out)
		if len(out.Errors) == 0 {
			return testserver.GQLError{}
		}
		return out.Errors[0]
	}
	ws := srv.Connect(testserver.TransportWS, alice.AccessToken)
	legacy := srv.Connect(testserver.LegacyWS, alice.AccessToken)
	ids := 0
	overWS := func(w *testserver.WS, typ, payload string) testserver.GQLError {
		ids++
		id := "bad" + strconv.Itoa(ids)
		storetest.Must(t, w.Conn.Write(t.Context(), websocket.MessageText, []byte(`{"type":"`+typ+`","id":"`+id+`","payload":`+payload+`}`)))
		for {
			m := w.Read()
			if m.ID != id || m.Type == "complete" {
				continue
			}
			var errs []testserver.GQLError
			if m.Type == "error" {
				_ = json.Unmarshal(m.Payload, &errs)
			} else {
				var r struct{ Errors []testserver.GQLError }
				_ = json.Unmarshal(m.Payload, &r)
				errs = r.Errors
			}
			if len(errs) == 0 {
				return testserver.GQLError{Message: string(m.Payload)}
			}
			return errs[0]
		}
	}
	body := func(query, vars string) string {
		q, _ := json.Marshal(query)
		if vars == "" {
			return `{"query":` + string(q) + `}`
		}
		return `{"query":` + string(q) + `,"variables":` + vars + `}`
	}
	for name, tc := range map[string]struct {
		err   func() testserver.GQLError
		field string
	}{
		"POST variable": {func() testserver.GQLError { _, raw := post(body(withVar, varsJSON), ""); return firstError(raw) }, "n"},
		"POST literal":  {func() testserver.GQLError { _, raw := post(body(literal, ""), ""); return firstError(raw) }, "input.name"},
		"POST in the document": {func() testserver.GQLError {
			_, raw := post(`{"query":"mutation { createProject(input: {name: \"\"\"\ud800\"\"\"}) { id } }"}`, "")
			return firstError(raw)
		}, "query"},
		"SSE variable": {func() testserver.GQLError {
			_, raw := post(body(withVar, varsJSON), "text/event-stream")
			return firstError(raw)
		}, "n"},
		"SSE literal": {func() testserver.GQLError {
			_, raw := post(body(literal, ""), "text/event-stream")
			return firstError(raw)
		}, "input.name"},
		"GET variable": {func() testserver.GQLError {
			_, raw := get(url.Values{"query": {`query($n: String!) { me { id } }`}, "variables": {varsJSON}})
			return firstError(raw)
		}, "n"},
		"GET literal": {func() testserver.GQLError {
			_, raw := get(url.Values{"query": {`{ project(id: "a\ud800b") { id } }`}})
			return firstError(raw)
		}, "id"},
		"graphql-transport-ws variable": {func() testserver.GQLError { return overWS(ws, "subscribe", body(withVar, varsJSON)) }, "n"},
		"graphql-transport-ws literal":  {func() testserver.GQLError { return overWS(ws, "subscribe", body(literal, "")) }, "input.name"},
		"graphql-ws variable":           {func() testserver.GQLError { return overWS(legacy, "start", body(withVar, varsJSON)) }, "n"},
		"graphql-ws literal":            {func() testserver.GQLError { return overWS(legacy, "start", body(literal, "")) }, "input.name"},
	} {
		if e := tc.err(); e.Code() != "BAD_USER_INPUT" || e.Field() != tc.field || !strings.Contains(e.Message, "surrogate") {
			t.Errorf("%s: %s %q %q, want BAD_USER_INPUT on %q", name, e.Code(), e.Field(), e.Message, tc.field)
		}
	}
	// Both connections go on.
	for _, w := range []*testserver.WS{ws, legacy} {
		if r := w.Subscribe(`{ me { id } }`, nil).Next(); len(r.Errors) > 0 {
			t.Fatalf("%s does not go on: %+v", w.Protocol, r.Errors)
		}
	}
	var projects struct{ Projects []struct{ Name string } }
	alice.MustDo(withVar, map[string]any{"n": "\U0001F600 pair"}, nil)
	alice.MustDo(`{ projects { name } }`, nil, &projects)
	if len(projects.Projects) != 1 || projects.Projects[0].Name != "\U0001F600 pair" {
		t.Fatalf("projects %+v, want only the one named with a pair", projects.Projects)
	}
}
