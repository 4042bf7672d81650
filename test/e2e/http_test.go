package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/buildinfo"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/surface/httpserver"
	"github.com/ottr/backend/internal/tools/testserver"
)

// get fetches path from the server.
func get(t *testing.T, srv *testserver.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestInternalErrorsShowNothingAndLogTheCause(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		storetest.Must(t, srv.App.Store.Close()) // every query now fails

		alice.Header.Set("X-Request-Id", "req-internal-1")
		r := alice.Do(meQuery, nil)
		if len(r.Errors) != 1 || r.Errors[0].Code() != "INTERNAL" || r.Errors[0].Message != "internal error" {
			t.Fatalf("errors: %+v, want one INTERNAL \"internal error\"", r.Errors)
		}
		// The request id ties the answer to the log line with the cause.
		if len(r.Errors[0].Extensions) != 2 || r.Errors[0].Extensions["requestId"] != "req-internal-1" {
			t.Fatalf("extensions: %v, want the code and requestId req-internal-1 only", r.Errors[0].Extensions)
		}
		if r.Header.Get("X-Request-Id") != "req-internal-1" {
			t.Fatalf("X-Request-Id answered %q", r.Header.Get("X-Request-Id"))
		}
		var logged bool
		for _, line := range strings.Split(srv.Logs.String(), "\n") {
			if strings.Contains(line, "resolver failed") && strings.Contains(line, "request_id=req-internal-1") &&
				strings.Contains(line, "database is closed") {
				logged = true
			}
		}
		if !logged {
			t.Fatalf("no log line with the cause and the request id:\n%s", srv.Logs.String())
		}
	})
}

// Requests that never reach a resolver keep the codes GraphQL clients
// know: GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED.
func TestParseAndValidationErrorsKeepTheirCodes(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	anon := srv.Client("")
	for name, tc := range map[string]struct{ query, code string }{
		"syntax":          {`{ me { id `, "GRAPHQL_PARSE_FAILED"},
		"unknown field":   {`{ nothing }`, "GRAPHQL_VALIDATION_FAILED"},
		"bad argument":    {`{ project(id: 5, extra: 1) { id } }`, "GRAPHQL_VALIDATION_FAILED"},
		"unused variable": {`query($n: Int!) { me { id } }`, "GRAPHQL_VALIDATION_FAILED"},
	} {
		if e := anon.ErrorCode(tc.query, nil); e.Code() != tc.code {
			t.Errorf("%s: %s %q, want %s", name, e.Code(), e.Message, tc.code)
		}
	}
	if e := anon.ErrorCode(`query($i: SignUpInput!) { me { id } }`, map[string]any{"i": 3}); e.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("bad variable: %s", e.Code())
	}
	if e := anon.ErrorCode(meQuery, nil); e.Code() != "UNAUTHENTICATED" {
		t.Errorf("me without credentials: %s", e.Code())
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	// The limit is the HTTP layer's, before any database: one database suffices.
	srv := testserver.Start(t, store.SQLite)
	// A valid GraphQL request padded past the limit with whitespace.
	big := []byte(`{"query": "{ __typename }"` + strings.Repeat(" ", httpserver.MaxBodyBytes) + `}`)
	post := func(body io.Reader) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/query", body)
		storetest.Must(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := post(bytes.NewReader(big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("with Content-Length: %d, want 413", resp.StatusCode)
	}
	// io.MultiReader hides the length: the body goes chunked.
	if resp := post(io.MultiReader(bytes.NewReader(big))); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: %d, want 413", resp.StatusCode)
	}
	// At the limit it passes, and the server keeps serving.
	atLimit := []byte(`{"query": "{ __typename }"` + strings.Repeat(" ", httpserver.MaxBodyBytes-27) + `}`)
	if len(atLimit) != httpserver.MaxBodyBytes {
		t.Fatalf("test body is %d bytes", len(atLimit))
	}
	if resp := post(io.MultiReader(bytes.NewReader(atLimit))); resp.StatusCode != http.StatusOK {
		t.Fatalf("a body of exactly the limit: %d", resp.StatusCode)
	}
	srv.Client("").MustDo(`{ __typename }`, nil, nil)
	if resp, _ := get(t, srv, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after large bodies: %d", resp.StatusCode)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		t.Run("healthy and ready", func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, d)
			for _, path := range []string{"/healthz", "/readyz"} {
				if resp, body := get(t, srv, path); resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
				}
			}
		})
		t.Run("database gone", func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, d)
			storetest.Must(t, srv.App.Store.Close())
			if resp, _ := get(t, srv, "/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("readyz without a database: %d", resp.StatusCode)
			}
			// The process is still up.
			if resp, _ := get(t, srv, "/healthz"); resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz without a database: %d", resp.StatusCode)
			}
		})
		t.Run("migration pending", func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, d)
			_, err := srv.App.Store.SQL().Exec("DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)")
			storetest.Must(t, err)
			if resp, _ := get(t, srv, "/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("readyz with a migration pending: %d", resp.StatusCode)
			}
			if !strings.Contains(srv.Logs.String(), "migrations pending") {
				t.Fatalf("the reason is not logged:\n%s", srv.Logs.String())
			}
		})
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	anon := srv.Client("")
	anon.MustDo(`query SomeClientChosenName { __typename }`, nil, nil)
	anon.ErrorCode(meQuery, nil)
	get(t, srv, "/healthz")
	get(t, srv, "/no/such/page")
	resp, body := get(t, srv, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	version, revision := buildinfo.Get()
	for _, want := range []string{
		`ottr_http_requests_total{code="200",method="POST",route="/query"} 2`,
		`ottr_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`ottr_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`ottr_graphql_operation_duration_seconds_count{field="__typename",type="query"} 1`,
		`ottr_graphql_operation_duration_seconds_count{field="me",type="query"} 1`,
		`ottr_graphql_errors_total{code="UNAUTHENTICATED"} 1`,
		// The build, as ottr version prints it.
		fmt.Sprintf(`ottr_build_info{revision=%q,version=%q} 1`, revision, version),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A name the client chose is not a label: it would grow without bound.
	if strings.Contains(body, "SomeClientChosenName") {
		t.Error("metrics carry a client-chosen operation name")
	}
}

func TestDepthComplexityAndTokenLimits(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	alice := srv.SignUp("Alice")
	// Deep: projects -> members -> user, and back through nothing else, so
	// nest the one self-referencing path the schema has many times over.
	deep := "{ projects { id } }"
	for range 12 {
		deep = strings.Replace(deep, "{ id }", "{ approvals { edges { node { project { id } } } } }", 1)
	}
	if e := alice.ErrorCode(deep, nil); e.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(e.Message, "deep") {
		t.Fatalf("deep query: %s %q", e.Code(), e.Message)
	}
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 300 {
		fmt.Fprintf(&wide, " a%d: projects { id name }", i)
	}
	wide.WriteString(" }")
	if e := alice.ErrorCode(wide.String(), nil); e.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(e.Message, "complexity") {
		t.Fatalf("wide query: %s %q", e.Code(), e.Message)
	}
	// Many cheap tokens: the parser stops before building the document.
	tokens := "{" + strings.Repeat(" __typename", 6000) + " }"
	if e := alice.ErrorCode(tokens, nil); e.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(e.Message, "token") {
		t.Fatalf("query of many tokens: %s %q", e.Code(), e.Message)
	}
	// An ordinary dashboard query passes.
	alice.MustDo(`{ me { id } projects { id name myRole members { role user { id email name } } apiKeys { id prefix } } }`, nil, nil)
}

func TestAutomaticPersistedQueries(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	anon := srv.Client("")
	query := `{ __typename }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

	r := anon.Post(map[string]any{"extensions": ext})
	if len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound" || r.Errors[0].Code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("hash of an unknown query: %+v", r.Errors)
	}
	r = anon.Post(map[string]any{"query": query, "extensions": ext})
	if len(r.Errors) > 0 {
		t.Fatalf("registering the query: %+v", r.Errors)
	}
	r = anon.Post(map[string]any{"extensions": ext})
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "Query") {
		t.Fatalf("hash only after registration: %s %+v", r.Data, r.Errors)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite) // allows http://localhost:5173
	// What a browser with OpenTelemetry, Sentry and Apollo Client asks for.
	tracing := []string{"traceparent", "tracestate", "baggage", "sentry-trace", "apollographql-client-name", "apollographql-client-version"}
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, "+strings.Join(tracing, ", "))
		resp, err := http.DefaultClient.Do(req)
		storetest.Must(t, err)
		resp.Body.Close()
		return resp
	}
	resp := preflight("http://localhost:5173")
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight from an allowed origin: %d %v", resp.StatusCode, h)
	}
	allowed := map[string]bool{}
	for _, name := range strings.Split(h.Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(name))] = true
	}
	for _, name := range append([]string{"authorization", "content-type", "x-request-id"}, tracing...) {
		if !allowed[name] {
			t.Errorf("preflight does not allow the %s header: %q", name, h.Get("Access-Control-Allow-Headers"))
		}
	}
	resp = preflight("https://evil.example.com")
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("preflight from another origin allowed %q", v)
	}
	if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Fatal("a refused preflight does not say it varies by Origin")
	}

	// The REST API answers the preflight of a dashboard's POST with an
	// Idempotency-Key.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/v1/approvals", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
	resp, err := http.DefaultClient.Do(req)
	storetest.Must(t, err)
	resp.Body.Close()
	h = resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "idempotency-key") {
		t.Fatalf("preflight on /v1/approvals: %d %v", resp.StatusCode, h)
	}

	// Scripts of an allowed origin may read the request id and Retry-After,
	// on both APIs.
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/query", `{"query":"{ __typename }"}`},
		{http.MethodGet, "/v1/openapi.json", ""},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(r.body))
		req.Header.Set("Origin", "http://localhost:5173")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		storetest.Must(t, err)
		resp.Body.Close()
		exposed := map[string]bool{}
		for _, name := range strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ",") {
			exposed[strings.ToLower(strings.TrimSpace(name))] = true
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
			!exposed["x-request-id"] || !exposed["retry-after"] || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: %d %v", r.method, r.path, resp.StatusCode, resp.Header)
		}
	}
}

// Browsers ask every origin for /favicon.ico; it is an icon, not a 404 in
// the console.
func TestFavicon(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite)
	resp, page := get(t, srv, "/favicon.ico")
	body := []byte(page)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/x-icon" || len(body) < 22 {
		t.Fatalf("GET /favicon.ico: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	// An ICO of one image, a PNG that decodes to the size the header says.
	if !bytes.Equal(body[:6], []byte{0, 0, 1, 0, 1, 0}) {
		t.Fatalf("not an ICO of one image: % x", body[:6])
	}
	offset := binary.LittleEndian.Uint32(body[18:22])
	img, err := png.Decode(bytes.NewReader(body[offset:]))
	if err != nil || img.Bounds().Dx() != int(body[6]) || img.Bounds().Dy() != int(body[7]) {
		t.Fatalf("the icon's image: %v", err)
	}
}

// No secret reaches the log: not passwords, tokens or API keys, not the
// Authorization header, not query strings.
func TestSecretsAreNeverLogged(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		var login struct{ LogIn authPayload }
		srv.Client("").MustDo(logInMutation, logInVars(alice.Email, "correct horse battery"), &login)
		var refreshed struct{ RefreshSession authPayload }
		srv.Client("").MustDo(refreshMutation, map[string]any{"t": login.LogIn.RefreshToken}, &refreshed)
		pid := alice.CreateProject("P")
		_, secret := alice.CreateAPIKey(pid, "WRITE")
		srv.Client(secret).MustDo(`{ projects { id } }`, nil, nil)
		srv.Client("").ErrorCode(logInMutation, logInVars(alice.Email, "a wrong password to hide"))
		// GET requests carry the operation, and could carry tokens, in the
		// query string.
		resp, err := http.Get(srv.URL + "/query?query=%7B__typename%7D&token=" + secret)
		storetest.Must(t, err)
		resp.Body.Close()

		logs := srv.Logs.String()
		for name, s := range map[string]string{
			"password": "correct horse battery", "wrong password": "a wrong password to hide",
			"access token": alice.AccessToken, "refresh token": alice.RefreshToken,
			"log-in access token": login.LogIn.AccessToken, "log-in refresh token": login.LogIn.RefreshToken,
			"refreshed token": refreshed.RefreshSession.RefreshToken, "API key": secret,
			"Authorization header": "Bearer", "query string": "__typename",
		} {
			if strings.Contains(logs, s) {
				t.Errorf("the log holds the %s", name)
			}
		}
		// One line per request, with an id.
		requestLines := regexp.MustCompile(`msg=request request_id=[0-9a-f]{16} method=POST route=/query status=200 took_ms=[0-9.]+ ip=\S+ operation=(query|mutation)`).FindAllString(logs, -1)
		if len(requestLines) < 6 {
			t.Fatalf("%d request lines:\n%s", len(requestLines), logs)
		}
	})
}
