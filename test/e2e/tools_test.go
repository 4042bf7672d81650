package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// The schema tools developers point at the server work on it, unmodified:
// graphql-js's getIntrospectionQuery() with its default options and with
// every option on (what GraphiQL, Apollo, Postman and Insomnia send), and
// GraphQL Code Generator with typescript and typescript-operations reading
// the schema from the server's URL. test/js/node_modules comes from
// `npm ci` (.ci/run does it).
func TestStandardSchemaToolsWork(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		if out := runNode(t, "introspect.mjs", "OTTR_URL="+srv.URL); !strings.HasPrefix(out, "ok ") {
			t.Fatalf("introspect.mjs printed %q", out)
		}
		generated := filepath.Join(t.TempDir(), "graphql.ts")
		if out := runNode(t, "codegen.mjs", "OTTR_URL="+srv.URL, "OTTR_OUT="+generated); out != "ok" {
			t.Fatalf("codegen.mjs printed %q", out)
		}
		if strings.Contains(srv.Logs.String(), "level=ERROR") {
			t.Fatalf("the server logged errors:\n%s", srv.Logs.String())
		}
	})
}

// Python's gql builds its schema with graphql-core 3.2, which knows only
// the directive locations of the October 2021 specification: the
// introspection result must name no other.
func TestGraphQLCoreBuildsTheSchema(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	python, dir, env := testserver.PythonTools(t, "test/python")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "introspect.py")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "OTTR_URL="+srv.URL), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 introspect.py: %v\n%s%s", err, out, stderr.String())
	}
	if !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("introspect.py printed %q", out)
	}
}

// runNode runs a script of test/js with Node.js and returns what it printed.
func runNode(t *testing.T, script string, env ...string) string {
	t.Helper()
	node, dir := testserver.NodeTools(t, "test/js")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s%s", script, err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
