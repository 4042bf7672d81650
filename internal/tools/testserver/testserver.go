// Package testserver starts the real server on a fresh database behind a
// real HTTP listener, and speaks GraphQL to it, for integration tests.
package testserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/surface/httpserver"
)

// Server is one running server on its own database.
type Server struct {
	URL     string
	App     *ottr.App
	Dialect store.Dialect
	HTTP    *httptest.Server
	Logs    *LogBuffer
	t       testing.TB
}

// Option changes the configuration before the server starts.
type Option func(*config.Config)

// Config returns a configuration for tests on dialect d with a fresh
// database; the server's own URL is filled in by Start.
func Config(t testing.TB, d store.Dialect) config.Config {
	databaseURL, dataDir := storetest.NewDatabase(t, d)
	return config.Config{
		Addr:                 "127.0.0.1:0",
		DatabaseURL:          databaseURL,
		DataDir:              dataDir,
		JWTSecret:            []byte("test-secret-test-secret-test-secret-0123"),
		EncryptionKey:        base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		SlackWebhookPrefixes: []string{"https://hooks.slack.com/services/"},
		CORSOrigins:          []string{"http://localhost:5173"},
		Playground:           true,
		Introspection:        true,
		LogFormat:            "text",
	}
}

// Clock is a clock that tests move forward; it starts at the real time.
type Clock struct {
	offset atomic.Int64
	frozen atomic.Int64 // Unix nanoseconds the clock stands still at; 0 while it runs
}

// Now is the real time, or the time the clock was frozen at, plus how far
// the clock was moved.
func (c *Clock) Now() time.Time {
	t := time.Now()
	if f := c.frozen.Load(); f != 0 {
		t = time.Unix(0, f)
	}
	return t.Add(time.Duration(c.offset.Load()))
}

// Freeze stops the clock at the real time: only Advance moves it after.
func (c *Clock) Freeze() { c.frozen.Store(time.Now().UnixNano()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// WithClock makes the server read the time from c.
func WithClock(c *Clock) Option { return func(cfg *config.Config) { cfg.Now = c.Now } }

// Start runs a server on a fresh database of dialect d.
func Start(t testing.TB, d store.Dialect, opts ...Option) *Server {
	t.Helper()
	return StartWith(t, Config(t, d), opts...)
}

// StartWith runs a server with cfg (used to start a second instance on the
// same database).
func StartWith(t testing.TB, cfg config.Config, opts ...Option) *Server {
	t.Helper()
	for _, o := range opts {
		o(&cfg)
	}
	logs := &LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var handler atomic.Value
	// The production server's deadlines, so that every test runs under
	// them (streams included).
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	httpserver.ApplyTimeouts(ts.Config, cfg.HTTP)
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ts.Listener.Addr().String()
	}
	a, err := ottr.New(context.Background(), cfg, logger)
	if err != nil {
		ts.Close()
		t.Fatalf("start server: %v", err)
	}
	handler.Store(a.Handler())
	ts.Start()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		_ = a.Close()
	})
	d := store.SQLite
	if cfg.Postgres() {
		d = store.Postgres
	}
	return &Server{URL: ts.URL, App: a, Dialect: d, HTTP: ts, Logs: logs, t: t}
}

// Attach speaks to a running app that something else serves at url (the
// main package's own serve, on listeners of its own); the caller stops
// and closes it.
func Attach(t testing.TB, url string, a *ottr.App) *Server {
	d := store.SQLite
	if a.Config.Postgres() {
		d = store.Postgres
	}
	return &Server{URL: url, App: a, Dialect: d, t: t}
}

// LogBuffer collects the server's log lines so tests can check that no
// secret was logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage
	Errors []GQLError
	Header http.Header
}

// GQLError is one GraphQL error.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e GQLError) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Field is the error's extensions.field.
func (e GQLError) Field() string { s, _ := e.Extensions["field"].(string); return s }

// Client speaks GraphQL to a server with one credential.
type Client struct {
	srv    *Server
	Token  string // bearer credential: an access token or an API key
	Header http.Header
	http   *http.Client
}

// Client returns a client with the given bearer credential ("" for none).
func (s *Server) Client(token string) *Client {
	return &Client{srv: s, Token: token, Header: http.Header{}, http: http.DefaultClient}
}

// FromIP returns a copy of the client whose connections come from ip, a
// loopback address such as 127.0.0.2 (Linux answers the whole 127.0.0.0/8),
// so that tests can act as many clients of per-IP rate limits.
func (c *Client) FromIP(ip string) *Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	transport := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4}
	c.srv.t.Cleanup(transport.CloseIdleConnections)
	cp := *c
	cp.Header = c.Header.Clone()
	cp.http = &http.Client{Transport: transport}
	return &cp
}

// Do posts a GraphQL operation and decodes the response.
func (c *Client) Do(query string, vars map[string]any) *Response {
	c.srv.t.Helper()
	return c.Post(map[string]any{"query": query, "variables": vars})
}

// Post sends body, JSON-encoded, as a GraphQL request and decodes the
// response; for request shapes Do does not build (persisted queries).
func (c *Client) Post(body any) *Response {
	c.srv.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		c.srv.t.Fatalf("encode request: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+"/query", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.srv.t.Fatalf("POST /query: %v", err)
	}
	defer resp.Body.Close()
	raw, _ = io.ReadAll(resp.Body)
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []GQLError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		c.srv.t.Fatalf("decode response (status %d): %v: %s", resp.StatusCode, err, raw)
	}
	return &Response{Status: resp.StatusCode, Data: out.Data, Errors: out.Errors, Header: resp.Header}
}

// MustDo runs an operation that must succeed and decodes its data into out.
func (c *Client) MustDo(query string, vars map[string]any, out any) {
	c.srv.t.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) > 0 {
		c.srv.t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			c.srv.t.Fatalf("decode data: %v: %s", err, r.Data)
		}
	}
}

// ErrorCode runs an operation that must fail and returns its first error.
func (c *Client) ErrorCode(query string, vars map[string]any) GQLError {
	c.srv.t.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) == 0 {
		c.srv.t.Fatalf("expected an error, got data %s", r.Data)
	}
	return r.Errors[0]
}

// User is a signed-up user with a client.
type User struct {
	ID, Email, AccessToken, RefreshToken string
	*Client
}

var userSeq atomic.Int64

// SignUp creates a fresh user and returns a client signed in as them.
func (s *Server) SignUp(name string) *User {
	s.t.Helper()
	n := userSeq.Add(1)
	email := fmt.Sprintf("%s-%d@example.com", strings.ToLower(name), n)
	var out struct {
		SignUp struct {
			AccessToken, RefreshToken string
			User                      struct{ ID string }
		}
	}
	// Each user signs up from an address of their own, as people do, so
	// that tests creating many users stay below the per-IP sign-up limit.
	from := fmt.Sprintf("127.1.%d.%d", n/250%250, n%250+1)
	s.Client("").FromIP(from).MustDo(`mutation($i: SignUpInput!) { signUp(input: $i) { accessToken refreshToken user { id } } }`,
		map[string]any{"i": map[string]any{"email": email, "password": "correct horse battery", "name": name}}, &out)
	return &User{ID: out.SignUp.User.ID, Email: email, AccessToken: out.SignUp.AccessToken,
		RefreshToken: out.SignUp.RefreshToken, Client: s.Client(out.SignUp.AccessToken)}
}

// CreateProject creates a project owned by u and returns its id.
func (u *User) CreateProject(name string) string {
	u.srv.t.Helper()
	var out struct{ CreateProject struct{ ID string } }
	u.MustDo(`mutation($n: String!) { createProject(input: {name: $n}) { id } }`, map[string]any{"n": name}, &out)
	return out.CreateProject.ID
}

// CreateAPIKey creates a key of scope ("READ" or "WRITE") and returns its
// secret.
func (u *User) CreateAPIKey(projectID, scope string) (id, secret string) {
	u.srv.t.Helper()
	var out struct {
		CreateAPIKey struct {
			APIKey struct{ ID string } `json:"apiKey"`
			Secret string
		} `json:"createApiKey"`
	}
	u.MustDo(`mutation($p: ID!, $s: ApiKeyScope!) { createApiKey(projectId: $p, input: {name: "ci", scope: $s}) { apiKey { id } secret } }`,
		map[string]any{"p": projectID, "s": scope}, &out)
	return out.CreateAPIKey.APIKey.ID, out.CreateAPIKey.Secret
}

// Crash stops the server as a killed process would stop: its database
// connections go first, so nothing in flight gets recorded, then its
// listener and background work stop.
func (s *Server) Crash() {
	s.t.Helper()
	_ = s.App.Store.Close()
	s.HTTP.CloseClientConnections()
	s.HTTP.Close()
	_ = s.App.Close()
}

// AddSlackChannel adds a channel selecting events (EventType names) to a
// project and returns its id.
func (c *Client) AddSlackChannel(projectID, name, webhookURL string, events ...string) string {
	c.srv.t.Helper()
	var out struct{ AddSlackChannel struct{ ID string } }
	c.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
		map[string]any{"p": projectID, "i": map[string]any{"name": name, "webhookUrl": webhookURL, "events": events}}, &out)
	return out.AddSlackChannel.ID
}

// AddMember gives the user with email a role ("OWNER", "ADMIN", "MEMBER",
// "VIEWER") in the project.
func (u *User) AddMember(projectID, email, role string) {
	u.srv.t.Helper()
	u.MustDo(`mutation($p: ID!, $e: String!, $r: Role!) { addProjectMember(projectId: $p, email: $e, role: $r) { role } }`,
		map[string]any{"p": projectID, "e": email, "r": role}, nil)
}
