package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ResponseURLAllowed reports whether a click's response_url starts with
// one of prefixes, as text and as scheme, host and path, and is https
// unless a prefix says otherwise. A path that a server could resolve to
// somewhere else (dot segments, encoded dots or slashes, empty segments)
// is refused: it would step out of the prefix.
func ResponseURLAllowed(raw string, prefixes []string) bool {
	if len(raw) > MaxURLLength || strings.ContainsAny(raw, "?#@\\") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") || !plainPath(u) {
		return false
	}
	for _, p := range prefixes {
		if covers(p, raw, u) {
			return true
		}
	}
	return false
}

// plainPath reports whether u's path has only ordinary segments: no ".",
// "..", empty segment, or percent-encoded dot, slash or backslash.
func plainPath(u *url.URL) bool {
	escaped := strings.ToLower(u.EscapedPath())
	if strings.Contains(escaped, "%2e") || strings.Contains(escaped, "%2f") || strings.Contains(escaped, "%5c") {
		return false
	}
	segments := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// PostReply sends a reply to a response_url that ResponseURLAllowed
// accepted, through the client's SSRF-safe transport. The client must be
// made with a Validator of the response URL prefixes, so that a fake
// Slack in tests may be reached. The URL is never part of the error.
func (c *Client) PostReply(ctx context.Context, responseURL string, reply Reply) error {
	body, err := json.Marshal(reply)
	if err != nil {
		return fmt.Errorf("encode slack reply: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post slack reply: %w", redact(err, responseURL))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Ottr")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("post slack reply: %w", redact(err, responseURL))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxReadBody))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("slack reply answered %d after %s: %s", resp.StatusCode, time.Since(start).Round(time.Millisecond), truncateUTF8(answer, maxKeepBody))
	}
	return nil
}
