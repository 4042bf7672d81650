package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultTimeout bounds a whole webhook request, answer included.
const DefaultTimeout = 10 * time.Second

const (
	maxReadBody = 64 << 10 // bytes of an answer read at most
	maxKeepBody = 1 << 10  // bytes of an answer kept in Result.Body
)

// Client posts messages to incoming webhooks. Requests time out, never
// follow redirects, and reach internal addresses only for hosts of an
// explicitly configured non-Slack prefix.
type Client struct {
	validator URLPolicy
	timeout   time.Duration
	resolver  *net.Resolver
	http      *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout replaces DefaultTimeout; d <= 0 keeps it.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithResolver sets the resolver used to look up webhook hosts.
func WithResolver(r *net.Resolver) Option { return func(c *Client) { c.resolver = r } }

// NewClient returns a client that posts to URLs accepted by validator:
// a Validator for Slack webhooks, or another kind's URLPolicy.
func NewClient(validator URLPolicy, opts ...Option) *Client {
	c := &Client{validator: validator, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(c)
	}
	transport := &http.Transport{
		Proxy:                 nil, // never hand webhook URLs to a proxy from the environment
		DialContext:           newDialer(validator, c.resolver).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// Result is what happened to one post.
type Result struct {
	StatusCode int           // 0 when no answer arrived
	Body       string        // Slack's answer, at most 1 KiB
	Err        error         // transport error; it never contains the webhook secret
	Latency    time.Duration // from sending to the end of the answer
	RetryAfter time.Duration // from a Retry-After header, 0 if absent
}

// Post sends body, a JSON payload, to webhookURL. The URL is checked by
// the client's validator first. Failures are reported in Result.Err.
func (c *Client) Post(ctx context.Context, webhookURL string, body []byte, opts ...PostOption) Result {
	webhookURL = strings.TrimSpace(webhookURL)
	if err := c.validator.Validate(webhookURL); err != nil {
		return Result{Err: fmt.Errorf("post to %s: %w", Mask(webhookURL), err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return Result{Err: fmt.Errorf("post to %s: %w", Mask(webhookURL), redact(err, webhookURL))}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Ottr")
	for _, opt := range opts {
		opt(req)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Err: redact(err, webhookURL), Latency: time.Since(start)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxReadBody))
	r := Result{
		StatusCode: resp.StatusCode,
		Body:       truncateUTF8(answer, maxKeepBody),
		Latency:    time.Since(start),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if err != nil {
		r.Err = fmt.Errorf("read answer from %s: %w", Mask(webhookURL), redact(err, webhookURL))
	}
	return r
}

// redact replaces the URL that *url.Error carries with its masked form.
func redact(err error, webhookURL string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: Mask(webhookURL), Err: ue.Err}
	}
	return err
}

// truncateUTF8 keeps at most max bytes of b, cut at a character boundary,
// as valid UTF-8.
func truncateUTF8(b []byte, max int) string {
	if len(b) > max {
		for max > 0 && !utf8.RuneStart(b[max]) {
			max--
		}
		b = b[:max]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
