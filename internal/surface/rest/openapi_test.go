package rest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/surface/rest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestOpenAPIDocument validates the served OpenAPI document with
// swagger-parser (Node.js; test/openapi/node_modules comes from `npm ci`,
// .ci/run does it), and holds it to the router: every documented operation
// is served, and every route is documented.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	node, dir := testserver.NodeTools(t, "test/openapi")
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

// recorded is one answer, for check-responses.mjs.
type recorded struct {
	Method string          `json:"method"`
	Path   string          `json:"path"` // the document's path template
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// TestResponsesMatchOpenAPI holds the answers to a run of requests,
// successes and errors, to the schemas the OpenAPI document gives them
// (checked with ajv, draft 2020-12 as OpenAPI 3.1 uses; the schemas allow
// no field they do not name).
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		var answers []recorded
		record := func(template string, r reply, method string) reply {
			answers = append(answers, recorded{method, template, r.Status, r.Body})
			return r
		}
		const approvals, one, inv, key, pending = "/v1/approvals", "/v1/approvals/{id}", "/v1/approvals/{id}/invalidate",
			"/v1/key/{key_path}", "/v1/key/{key_path}/pending"
		var c created
		record(approvals, f.do("POST", "/v1/approvals", f.write, `{"key_path": "deploy/web", "info": "Deploy?", "ref_id": "r1", "pin": "2468",
			"actions": [{"key": "deploy", "value": "approved", "label": "Deploy", "style": "primary"}, {"key": "cancel", "value": "rejected"}]}`), "POST").
			decode(t, http.StatusCreated, &c)
		record(approvals, f.do("POST", "/v1/approvals", f.write, `{"key_path": "deploy/web"}`), "POST")
		record(approvals, f.do("POST", "/v1/approvals", "", `{}`), "POST")
		record(approvals, f.do("POST", "/v1/approvals", f.read, `{"key_path": "a", "value": "b"}`), "POST")
		record(approvals, f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "b"}`, "Idempotency-Key", "k"), "POST")
		record(approvals, f.do("POST", "/v1/approvals", f.write, `{"key_path": "a", "value": "c"}`, "Idempotency-Key", "k"), "POST")
		record(one, f.do("GET", "/v1/approvals/"+c.ID, f.read, ""), "GET")
		record(pending, f.do("GET", "/v1/key/deploy/web/pending", f.read, ""), "GET")
		record(key, f.do("GET", "/v1/key/deploy/web", f.read, ""), "GET")
		if st := f.execute(c.URL, "cancel", "2468"); st != http.StatusOK {
			t.Fatalf("execute: %d", st)
		}
		record(one, f.do("GET", "/v1/approvals/"+c.ID+"?wait=5s", f.read, ""), "GET")
		record(one, f.do("GET", "/v1/approvals/"+c.ID+"x", f.read, ""), "GET")
		record(inv, f.do("POST", "/v1/approvals/"+c.ID+"/invalidate", f.write, ""), "POST")
		other := f.create(`{"key_path": "deploy/api", "value": "yes"}`)
		record(inv, f.do("POST", "/v1/approvals/"+other.ID+"/invalidate", f.write, `{"reason": "no"}`), "POST")
		record(inv, f.do("POST", "/v1/approvals/"+other.ID+"/invalidate", f.write, ""), "POST")
		record(pending, f.do("GET", "/v1/key/deploy/web/pending", f.read, ""), "GET")
		record(key, f.do("GET", "/v1/key/deploy/web", f.read, ""), "GET")
		record(key, f.do("GET", "/v1/key/nothing", f.read, ""), "GET")
		record(key, f.do("PUT", "/v1/key/flags/x", f.write, `"on"`), "PUT")
		record(key, f.do("PUT", "/v1/key/flags/x", f.write, strings.Repeat("x", 2<<20), "Content-Type", "text/plain"), "PUT")

		statuses := map[int]bool{}
		for _, a := range answers {
			statuses[a.Status] = true
		}
		for _, s := range []int{200, 201, 400, 401, 403, 404, 409, 410, 413, 422} {
			if !statuses[s] {
				t.Errorf("the requests got no %d answer to check", s)
			}
		}
		checkOpenAPI(t, answers)
	})
}
