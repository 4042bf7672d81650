package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/tools/testserver"
)

// widestIntrospection is the costliest introspection the limits let
// through: one __schema walking every field and input field of every type
// and then those of each field's type at every wrapping level (list fields
// nest twice at most), and a __type doing the same from the widest type.
var widestIntrospection = func() string {
	// inner lists a type's fields and input fields, the second list level.
	const inner = `fields { name description args { name description type { kind name ofType { kind name } } } type { kind name ofType { kind name ofType { kind name } } } } ` +
		`inputFields { name description type { kind name ofType { kind name ofType { kind name } } } }`
	// ref follows a field's type through its wrappers, listing the fields of
	// the type at each level.
	const ref = `type { kind name ` + inner + ` ofType { kind name ` + inner + ` ofType { kind name ` + inner + ` ofType { kind name ` + inner + ` } } } }`
	const walk = `name description fields { name description args { name description ` + ref + ` } ` + ref + ` } inputFields { name description ` + ref + ` }`
	var b strings.Builder
	b.WriteString("{ __schema { types { " + walk + " } }")
	// __type is also under the complexity limit (500), which one such walk
	// from the widest type nearly reaches.
	fmt.Fprintf(&b, " t: __type(name: %q) { %s }", "Mutation", walk)
	b.WriteString(" }")
	return b.String()
}()

// BenchmarkIntrospection measures introspection over HTTP against the
// running server: the standard query of graphql-js (what every schema tool
// sends), the widest one the introspection limits allow, and a baseline
// that only sends the standard answer's bytes from a minimal handler.
//
//	go test ./test/e2e/ -run '^$' -bench Introspection -count 6
func BenchmarkIntrospection(b *testing.B) {
	standard, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		b.Fatal(err)
	}
	srv := testserver.Start(b, store.SQLite)
	post := func(url, query string) []byte {
		body, _ := json.Marshal(map[string]any{"query": query})
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatalf("POST: %d %v %.300s", resp.StatusCode, err, out)
		}
		return out
	}
	answer := post(srv.URL+"/query", string(standard))
	baseline := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	defer baseline.Close()

	for _, c := range []struct{ name, url, query string }{
		{"standard", srv.URL + "/query", string(standard)},
		{"widest-allowed", srv.URL + "/query", widestIntrospection},
		{"baseline", baseline.URL, string(standard)},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := len(post(c.url, c.query))
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				post(c.url, c.query)
			}
		})
	}
}
