package rest_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/rest"
	"github.com/ottr/backend/internal/store"
)

// TestOpenAPIDocument validates the served OpenAPI document with
// swagger-parser (Node.js; test/openapi/node_modules comes from `npm ci`,
// .ci/run does it), and holds it to the router: every documented operation
// is served, and every route is documented.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20 or later")
	}
	dir, _ := filepath.Abs("../../test/openapi")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@apidevtools", "swagger-parser")); err != nil {
		t.Fatalf("swagger-parser not installed: run `npm ci` in test/openapi (%v)", err)
	}
	f := setup(t, store.SQLite)
	served := f.do("GET", "/v1/openapi.json", "", "")
	if served.Status != http.StatusOK || !bytes.Equal(served.Body, rest.OpenAPI()) {
		t.Fatalf("GET /v1/openapi.json: %d, not the embedded document", served.Status)
	}

	cmd := exec.Command(node, "validate.mjs", "-")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(served.Body)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("swagger-parser refuses the document: %v\n%s", err, stderr.String())
	}
	documented := strings.Fields(strings.ReplaceAll(string(out), " /", "_/"))
	routed := rest.New(rest.Options{}).Operations()
	for i := range routed {
		routed[i] = strings.Replace(routed[i], " ", "_", 1)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("documented operations\n%v\ndiffer from the routes\n%v", documented, routed)
	}

	// Each documented operation reaches its handler on the real server,
	// not the answer for unknown endpoints.
	c := f.create(`{"key_path": "deploy/x", "value": "yes"}`)
	for _, op := range documented {
		method, path, _ := strings.Cut(op, "_")
		target := strings.NewReplacer("{id}", c.ID, "{key_path}", "deploy/x").Replace(path)
		body := ""
		if method == "PUT" || method == "POST" {
			body = `{}`
		}
		r := f.do(method, target, f.write, body)
		if r.Status == http.StatusNotFound && strings.Contains(string(r.Body), "no such endpoint") {
			t.Errorf("%s is documented but not served", op)
		}
	}
	f.do("GET", "/v1/nothing/here", f.write, "").expectError(t, http.StatusNotFound, "NOT_FOUND", "")
}
