package graph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Request errors answer 400 (405, 415) with no "data" entry and field
// errors 200 with data, whichever of the two media types the client
// accepts; every error, the transport's own included, has a code.
func TestHTTPStatusesFollowGraphQLOverHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(quietHandler())
	defer srv.Close()
	const query = `{"query":"{ me { id } }"}`
	for _, tc := range []struct {
		name, method, contentType, body, rawQuery string
		status                                    int
		data                                      bool
	}{
		{"field error", "POST", "application/json", query, "", 200, true},
		{"field error over GET", "GET", "", "", "query=" + "%7B%20me%20%7B%20id%20%7D%20%7D", 200, true},
		{"parse error", "POST", "application/json", `{"query":"{ me { id "}`, "", 400, false},
		{"validation error", "POST", "application/json", `{"query":"{ nope }"}`, "", 400, false},
		{"variable refused", "POST", "application/json", `{"query":"query($p: ID!) { project(id: $p) { id } }","variables":{"p":true}}`, "", 400, false},
		{"unknown operation name", "POST", "application/json", `{"query":"query A { me { id } }","operationName":"B"}`, "", 400, false},
		{"batched body", "POST", "application/json", `[` + query + `,` + query + `]`, "", 400, false},
		{"body not JSON", "POST", "application/json", `{"query":`, "", 400, false},
		{"variables not an object", "GET", "", "", "query=%7B%20me%20%7B%20id%20%7D%20%7D&variables=5", 400, false},
		{"mutation over GET", "GET", "", "", "query=mutation%20%7B%20revokeApiKey(id%3A%20%22k%22)%20%7B%20id%20%7D%20%7D", 405, false},
		{"another method", "PUT", "application/json", query, "", 405, false},
		{"another content type", "POST", "text/plain", query, "", 415, false},
	} {
		for _, accept := range []string{"application/json", "application/graphql-response+json"} {
			req, _ := http.NewRequest(tc.method, srv.URL+"/query?"+tc.rawQuery, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out map[string]json.RawMessage
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%s (%s): %d %s: %v", tc.name, accept, resp.StatusCode, raw, err)
			}
			var errs []struct{ Extensions map[string]any }
			_ = json.Unmarshal(out["errors"], &errs)
			_, hasData := out["data"]
			if resp.StatusCode != tc.status || hasData != tc.data || len(errs) == 0 || resp.Header.Get("Content-Type") != accept {
				t.Errorf("%s (%s): %d %s %s, want %d, data %v", tc.name, accept, resp.StatusCode, resp.Header.Get("Content-Type"), raw, tc.status, tc.data)
			}
			for _, e := range errs {
				if code, _ := e.Extensions["code"].(string); code == "" {
					t.Errorf("%s (%s): an error without a code: %s", tc.name, accept, raw)
				}
			}
			if strings.Contains(string(raw), `\"query\"`) || strings.Contains(string(raw), "body:") {
				t.Errorf("%s (%s): the answer repeats the body: %s", tc.name, accept, raw)
			}
		}
	}
}
