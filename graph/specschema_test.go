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

// @defer is not offered: the schema does not declare it, and a document
// that uses it is refused before anything runs, whatever the client
// accepts, instead of answering null and hasNext: true.
func TestDeferIsNotOffered(t *testing.T) {
	t.Parallel()
	h := NewHandler(&Resolver{}, HandlerOptions{Introspection: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(query, accept string) (int, map[string]json.RawMessage) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"query": query})
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s: %d, not one JSON answer: %v", query, resp.StatusCode, err)
		}
		return resp.StatusCode, out
	}
	const deferred = `{ project(id: "p") { id ... @defer { approvals { totalCount } } } }`
	for _, accept := range []string{"application/json", "application/graphql-response+json", `multipart/mixed;deferSpec=20220824, application/json;q=0.9`} {
		status, out := post(deferred, accept)
		if _, hasData := out["data"]; status != http.StatusBadRequest || hasData || !strings.Contains(string(out["errors"]), "GRAPHQL_VALIDATION_FAILED") {
			t.Fatalf("@defer with Accept %s: %d %v", accept, status, out)
		}
	}
	_, out := post(`{ __schema { directives { name } } }`, "application/json")
	if strings.Contains(string(out["data"]), `"defer"`) || !strings.Contains(string(out["data"]), `"deprecated"`) {
		t.Fatalf("directives: %s", out["data"])
	}
	if strings.Contains(string(SDL()), "@defer") {
		t.Fatal("the served SDL declares @defer")
	}
}
