package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client speaks the REST API with one API key.
type client struct {
	base string
	key  string
	http *http.Client
}

func newClient(base, key string) (*client, error) {
	if base == "" {
		return nil, errors.New("OTTR_URL is not set: set it to the server's URL, e.g. https://ottr.example.com")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTTR_URL %q is not an http(s) URL", base)
	}
	if key == "" {
		return nil, errors.New("OTTR_API_KEY is not set: set it to a project API key (otw_… or otr_…)")
	}
	// A long-poll holds a request up to a minute; the margin covers the
	// server's answer after it.
	return &client{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: 90 * time.Second}}, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status     int
	RetryAfter time.Duration
	Detail     struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	}
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d): %s", e.Detail.Code, e.Status, e.Detail.Message)
	if e.Detail.Field != "" {
		msg += " [" + e.Detail.Field + "]"
	}
	return msg
}

// do sends a request and decodes a 2xx answer into out (nil: discard).
func (c *client) do(ctx context.Context, method, path string, header http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		var body struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(raw, &body) != nil || json.Unmarshal(body.Error, &e.Detail) != nil || e.Detail.Code == "" {
			e.Detail.Code, e.Detail.Message = "HTTP", strings.TrimSpace(resp.Status)
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// keyURL is the path of a key. A key whose last segment is "pending"
// escapes the slash before it, or the path would name its pending approval.
func keyURL(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	p := strings.Join(segs, "/")
	if n := len(segs); n > 1 && segs[n-1] == "pending" {
		p = strings.Join(segs[:n-1], "/") + "%2Fpending"
	}
	return "/v1/key/" + p
}

func (c *client) getKey(ctx context.Context, path string) (*string, error) {
	var value *string
	err := c.do(ctx, http.MethodGet, keyURL(path), nil, nil, &value)
	return value, err
}

func (c *client) setKey(ctx context.Context, path, value string) error {
	body, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, keyURL(path), http.Header{"Content-Type": {"application/json"}}, body, nil)
}

// approval is the part of an approval the commands read.
type approval struct {
	ID             string   `json:"id"`
	Status         string   `json:"status"`
	Actions        []action `json:"actions"`
	ExecutedAction *action  `json:"executed_action"`
}

type action struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Label string `json:"label,omitempty"`
	Style string `json:"style,omitempty"`
}

type created struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

func (c *client) createApproval(ctx context.Context, body map[string]any, idempotencyKey string) (*created, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	var out created
	if err := c.do(ctx, http.MethodPost, "/v1/approvals", h, raw, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// waitApproval long-polls an approval for up to wait.
func (c *client) waitApproval(ctx context.Context, id string, wait time.Duration) (*approval, error) {
	var out approval
	q := "?wait=" + strconv.Itoa(int(wait/time.Second))
	if err := c.do(ctx, http.MethodGet, "/v1/approvals/"+url.PathEscape(id)+q, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
