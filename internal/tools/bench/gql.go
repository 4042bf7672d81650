package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// gqlClient speaks GraphQL over HTTP with one bearer credential.
type gqlClient struct {
	url   string // the server's /query
	token string
	http  *http.Client
}

// newTransport keeps up to conns connections to the server open, so that
// concurrent workers reuse theirs instead of connecting per request. With
// a local address, connections come from it (see fromIP).
func newTransport(conns int, local net.Addr) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: local}
	return &http.Transport{DialContext: dialer.DialContext, MaxIdleConns: conns, MaxIdleConnsPerHost: conns,
		IdleConnTimeout: time.Minute}
}

func newGQLClient(baseURL, token string, conns int) *gqlClient {
	return &gqlClient{url: strings.TrimRight(baseURL, "/") + "/query", token: token,
		http: &http.Client{Transport: newTransport(conns, nil), Timeout: time.Minute}}
}

// fromIP returns a client of the same server whose connections come from
// ip, a loopback address such as 127.0.3.4 (Linux answers all of
// 127.0.0.0/8): many of them act as many people for per-IP rate limits,
// which stay as they are. Close its idle connections when done with it.
func (c *gqlClient) fromIP(ip net.IP) *gqlClient {
	cp := *c
	cp.http = &http.Client{Transport: newTransport(1, &net.TCPAddr{IP: ip}), Timeout: time.Minute}
	return &cp
}

func (c *gqlClient) close() { c.http.CloseIdleConnections() }

// withToken is a client of the same server with another credential, on
// the same connections.
func (c *gqlClient) withToken(token string) *gqlClient {
	cp := *c
	cp.token = token
	return &cp
}

// request encodes a GraphQL request once, so that load loops send bytes.
func request(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(fmt.Sprintf("encode GraphQL request: %v", err)) // only literals are encoded
	}
	return b
}

// gqlError is an error answered by the server.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

func (e gqlError) Error() string { return e.Extensions.Code + ": " + e.Message }

// do posts body and decodes the response's data into out (when not nil).
// An HTTP status other than 200 or a GraphQL error is an error.
func (c *gqlClient) do(ctx context.Context, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.send(req, out)
}

// send sends req with the client's credential and decodes a GraphQL
// response (the read baseline answers in the same shape).
func (c *gqlClient) send(req *http.Request, out any) error {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return r.Errors[0]
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return fmt.Errorf("decode data: %w", err)
		}
	}
	return nil
}

// project is a signed-up user's project and a WRITE key of it: what every
// scenario works in.
type project struct {
	ID       string
	WriteKey string
	// KeyID is the WRITE key's ID, which createApproval records as the
	// approval's creator.
	KeyID string
	// Channels are the IDs of its Slack channels.
	Channels []string
}

// channel is the project's first Slack channel, "" when it has none.
func (p *project) channel() string {
	if len(p.Channels) == 0 {
		return ""
	}
	return p.Channels[0]
}

// newProject signs a user up, creates a project and a WRITE API key.
func newProject(ctx context.Context, baseURL string) (*project, error) {
	user, err := signUp(ctx, baseURL)
	if err != nil {
		return nil, err
	}
	defer user.close()
	return user.newProject(ctx)
}

// signUp signs a new user up and returns a client with their access token.
func signUp(ctx context.Context, baseURL string) (*gqlClient, error) {
	anon := newGQLClient(baseURL, "", 1)
	defer anon.close()
	var out struct {
		SignUp struct{ AccessToken string }
	}
	email := fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano())
	err := anon.do(ctx, request(`mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`,
		map[string]any{"i": map[string]any{"email": email, "password": "bench password 1234", "name": "Bench"}}), &out)
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	return newGQLClient(baseURL, out.SignUp.AccessToken, 4), nil
}

// newProject creates a project owned by the user and a WRITE key of it.
func (c *gqlClient) newProject(ctx context.Context) (*project, error) {
	var p struct{ CreateProject struct{ ID string } }
	if err := c.do(ctx, request(`mutation { createProject(input: {name: "Bench"}) { id } }`, nil), &p); err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	var k struct {
		CreateAPIKey struct {
			Secret string
			APIKey struct{ ID string } `json:"apiKey"`
		} `json:"createApiKey"`
	}
	err := c.do(ctx, request(`mutation($p: ID!) { createApiKey(projectId: $p, input: {name: "bench", scope: WRITE}) { secret apiKey { id } } }`,
		map[string]any{"p": p.CreateProject.ID}), &k)
	if err != nil {
		return nil, fmt.Errorf("create API key: %w", err)
	}
	return &project{ID: p.CreateProject.ID, WriteKey: k.CreateAPIKey.Secret, KeyID: k.CreateAPIKey.APIKey.ID}, nil
}
