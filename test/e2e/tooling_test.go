package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ottr/backend/graph"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// OTTR_PLAYGROUND serves the page at /, OTTR_INTROSPECTION the schema
// (__schema, __type, /schema.graphql and field suggestions); each works
// without the other.
func TestPlaygroundAndIntrospectionAreSetApart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ playground, introspection bool }{{true, true}, {false, false}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("playground=%v,introspection=%v", c.playground, c.introspection), func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, store.SQLite, func(cfg *config.Config) {
				cfg.Playground, cfg.Introspection = c.playground, c.introspection
			})
			anon := srv.Client("")
			for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Project") { name } }`} {
				r := anon.Do(q, nil)
				if c.introspection != (len(r.Errors) == 0) {
					t.Fatalf("%s with introspection %v: %s %+v", q, c.introspection, r.Data, r.Errors)
				}
				if !c.introspection && r.Errors[0].Code() != "BAD_USER_INPUT" {
					t.Fatalf("refused introspection answers %s", r.Errors[0].Code())
				}
			}
			if strings.Contains(srv.Logs.String(), "resolver failed") {
				t.Fatal("a refused introspection was logged as a failure")
			}
			// Field suggestions would tell the schema too.
			e := anon.ErrorCode(`{ projectz { id } }`, nil)
			if suggests := strings.Contains(e.Message, "Did you mean"); suggests != c.introspection {
				t.Fatalf("suggestions with introspection %v: %q", c.introspection, e.Message)
			}

			resp, sdl := get(t, srv, "/schema.graphql")
			switch {
			case c.introspection && (resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/graphql")):
				t.Fatalf("GET /schema.graphql: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			case c.introspection:
				expectTheServedSchema(t, sdl)
			case resp.StatusCode != http.StatusNotFound:
				t.Fatalf("GET /schema.graphql with introspection off: %d", resp.StatusCode)
			}

			resp, page := get(t, srv, "/")
			if !c.playground {
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("playground page while off: %d", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("playground page: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
			}
			expectBundle(t, srv, page)
		})
	}
}

// expectTheServedSchema checks that the SDL parses on its own and has every
// type, field and description of the executable schema.
func expectTheServedSchema(t *testing.T, sdl string) {
	t.Helper()
	served, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("the served SDL does not parse: %v", err)
	}
	want := graph.NewExecutableSchema(graph.Config{}).Schema()
	if served.Description == "" || served.Description != want.Description {
		t.Fatalf("schema description: %q", served.Description)
	}
	for name, def := range want.Types {
		if def.BuiltIn {
			continue
		}
		got := served.Types[name]
		if got == nil || got.Description != def.Description || len(got.Fields) != len(def.Fields) || len(got.EnumValues) != len(def.EnumValues) {
			t.Fatalf("type %s served as %+v", name, got)
		}
		for _, f := range def.Fields {
			if g := got.Fields.ForName(f.Name); g == nil || g.Description != f.Description || len(g.Arguments) != len(f.Arguments) {
				t.Fatalf("field %s.%s served as %+v", name, f.Name, g)
			}
		}
	}
}

var assetURL = regexp.MustCompile(`(?:src|href)="(/playground/[0-9a-f]+/[a-z.]+)"`)

// expectBundle fetches what the page loads: all of it from this server.
func expectBundle(t *testing.T, srv *testserver.Server, page string) {
	t.Helper()
	if strings.Contains(page, "//") && regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).MatchString(page) {
		t.Fatalf("the page loads from another origin:\n%s", page)
	}
	urls := assetURL.FindAllStringSubmatch(page, -1)
	if len(urls) != 2 {
		t.Fatalf("the page should load one script and one stylesheet:\n%s", page)
	}
	for _, u := range urls {
		resp, body := get(t, srv, u[1])
		if resp.StatusCode != http.StatusOK || len(body) < 1000 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Fatalf("GET %s: %d, %d bytes, %q", u[1], resp.StatusCode, len(body), resp.Header.Get("Cache-Control"))
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
			t.Fatalf("GET %s: Content-Type %s", u[1], ct)
		}
	}
	prefix := urls[0][1][:strings.LastIndex(urls[0][1], "/")+1]
	for _, name := range []string{"editor.worker.js", "graphql.worker.js", "json.worker.js"} {
		if resp, _ := get(t, srv, prefix+name); resp.StatusCode != http.StatusOK {
			t.Fatalf("worker %s: %d", name, resp.StatusCode)
		}
	}
	if resp, _ := get(t, srv, prefix+"nothing.js"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown playground file: %d", resp.StatusCode)
	}
}

// The standard introspection query passes, measured by the introspection
// limits; what would make introspection expensive does not.
func TestIntrospectionHasItsOwnLimits(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	anon := srv.Client("")
	typeRef := "kind name"
	for range 12 {
		typeRef = "kind name ofType { " + typeRef + " }"
	}
	// Deeper than DepthLimit through ofType, as tools send it.
	r := anon.Do(`{ __schema { types { name fields { name type { `+typeRef+` } } } } }`, nil)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"Project"`) {
		t.Fatalf("introspection through 12 ofType levels: %+v", r.Errors)
	}
	refused := func(query, code, want string) {
		t.Helper()
		e := anon.ErrorCode(query, nil)
		if !strings.Contains(e.Message, want) || e.Code() != code {
			t.Fatalf("%s\nanswered %s %q, want %s naming %q", query, e.Code(), e.Message, code, want)
		}
	}
	// From types to their fields' types and their fields, and once more:
	// every field of every type of every field (gqlparser's validation).
	refused(`{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`, validationFailed, "Maximum introspection depth exceeded")
	refused(`query { __type(name: "Project") { ...F } } fragment F on __Type { interfaces { possibleTypes { inputFields { name } } } }`, validationFailed, "Maximum introspection depth exceeded")
	deep := "name"
	for range 30 {
		deep = "ofType { " + deep + " }"
	}
	refused(`{ __type(name: "Project") { `+deep+` } }`, limitExceeded, "introspection is nested 32 levels deep; the limit is 30")
	refused(`{ a: __schema { __typename } b: __schema { __typename } }`, limitExceeded, "2 __schema fields; the limit is 1")
	refused(`{ a: __type(name: "Query") { name } b: __type(name: "Project") { name } c: __type(name: "Event") { name } d: __type(name: "User") { name } e: __type(name: "Role") { name } f: __type(name: "Time") { name } }`,
		limitExceeded, "6 __type fields; the limit is 5")
	// One response key is resolved once, however often it is selected.
	r = anon.Do(`query { __schema { queryType { name } } ...S } fragment S on Query { __schema { mutationType { name } } a: __type(name: "Query") { name } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("one __schema selected twice: %+v", r.Errors)
	}
	// The data beside introspection keeps its own depth limit.
	data := "{ id }"
	for range 4 {
		data = strings.Replace(data, "{ id }", "{ approvals { edges { node { project { id } } } } }", 1)
	}
	refused(`{ __schema { queryType { name } } projects `+data+` }`, limitExceeded, "nested")
}

// The codes of a refused request: our limits answer limitExceeded,
// gqlparser's validation rules (its introspection depth among them)
// validationFailed.
const (
	limitExceeded    = "COMPLEXITY_LIMIT_EXCEEDED"
	validationFailed = "GRAPHQL_VALIDATION_FAILED"
)

// The playground's first document is valid, uses no deprecated field, and
// is the one the committed bundle shows.
func TestPlaygroundDefaultDocumentIsCurrent(t *testing.T) {
	t.Parallel()
	source, err := os.ReadFile("../../web/playground/src/default.graphql")
	storetest.Must(t, err)
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	doc, errs := gqlparser.LoadQuery(schema, string(source))
	if errs != nil {
		t.Fatalf("the default document is not valid: %v", errs)
	}
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			if f, ok := sel.(*ast.Field); ok {
				if f.Definition != nil && f.Definition.Directives.ForName("deprecated") != nil {
					t.Errorf("the default document uses the deprecated field %s.%s", f.ObjectDefinition.Name, f.Name)
				}
				walk(f.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	bundle, err := os.ReadFile("../../internal/surface/playground/dist/playground.js")
	storetest.Must(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(source)), "\n") {
		if strings.ContainsFunc(line, func(r rune) bool { return r > unicode.MaxASCII }) {
			continue // esbuild writes other characters as escapes
		}
		if !strings.Contains(string(bundle), strings.TrimRight(line, " ")) {
			t.Fatalf("the bundle lacks the line %q of the default document: rebuild web/playground", line)
		}
	}
}
