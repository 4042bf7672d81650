// Package slacktest provides a fake Slack incoming-webhook endpoint for
// tests: it records every request and answers as Slack does, with
// behaviour programmable globally or per webhook.
package slacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Text returns the "text" field of the request's JSON payload, or "".
func (r Request) Text() string {
	var p struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Text
}

// Behavior answers one request. The request body has been read and is
// available again from r.Body.
type Behavior func(w http.ResponseWriter, r *http.Request)

// OK answers as Slack does for a good message: 200 "ok". A body that is
// not a JSON object gets 400 "invalid_payload", one with neither text nor
// blocks 400 "no_text".
func OK() Behavior {
	return func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		body, _ := io.ReadAll(r.Body)
		switch {
		case json.Unmarshal(body, &p) != nil:
			answer(w, http.StatusBadRequest, "invalid_payload")
		case p.Text == "" && len(p.Blocks) == 0:
			answer(w, http.StatusBadRequest, "no_text")
		default:
			answer(w, http.StatusOK, "ok")
		}
	}
}

// RateLimited answers 429 "rate_limited" with Retry-After in whole
// seconds (rounded up); retryAfter <= 0 sends no Retry-After header.
func RateLimited(retryAfter time.Duration) Behavior {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter > 0 {
			secs := (retryAfter + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
		}
		answer(w, http.StatusTooManyRequests, "rate_limited")
	}
}

// ServerError answers 500 "rollup_error".
func ServerError() Behavior { return Status(http.StatusInternalServerError, "rollup_error") }

// Status answers with the given status code and body.
func Status(code int, body string) Behavior {
	return func(w http.ResponseWriter, _ *http.Request) { answer(w, code, body) }
}

// Redirect answers 302 with a Location header.
func Redirect(location string) Behavior {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", location)
		w.WriteHeader(http.StatusFound)
	}
}

// Hang never answers; it returns when the client gives up or the server
// closes.
func Hang() Behavior {
	return func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
}

func answer(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// Server is a fake Slack. Its zero behaviour is OK for every path.
// All methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	stop context.CancelFunc

	mu       sync.Mutex
	requests []Request
	changed  chan struct{} // closed and replaced on every request
	global   []Behavior
	perPath  map[string][]Behavior
}

// NewServer starts a fake Slack. Close it when done.
func NewServer() *Server {
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{stop: stop, changed: make(chan struct{}), perPath: make(map[string][]Behavior)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	s.Start()
	return s
}

// Close ends hanging requests and shuts the server down.
func (s *Server) Close() {
	s.stop()
	s.Server.Close()
}

// WebhookURL returns a webhook URL on this server:
// <URL>/services/<team>/<channel>/<secret>.
func (s *Server) WebhookURL(team, channel, secret string) string {
	return s.URL + "/services/" + team + "/" + channel + "/" + secret
}

// Prefix is the URL prefix to allow in a validator for this server.
func (s *Server) Prefix() string { return s.URL + "/" }

// Respond programs the answers for paths without their own: each request
// takes the next behaviour, and the last one repeats. Respond(ServerError(),
// ServerError(), OK()) fails twice, then accepts.
func (s *Server) Respond(seq ...Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.global = seq
}

// RespondTo programs the answers for one webhook, given as URL or path,
// like Respond.
func (s *Server) RespondTo(webhook string, seq ...Behavior) {
	p := pathOf(webhook)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perPath[p] = seq
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestsTo returns the requests received for one webhook, given as URL
// or path.
func (s *Server) RequestsTo(webhook string) []Request {
	p := pathOf(webhook)
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == p {
			out = append(out, r)
		}
	}
	return out
}

// Wait returns the requests once at least n have arrived, or an error
// after timeout.
func (s *Server) Wait(n int, timeout time.Duration) ([]Request, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.requests), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Requests(), nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return s.Requests(), fmt.Errorf("slacktest: got %d of %d requests within %s", got, n, timeout)
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now(),
	})
	close(s.changed)
	s.changed = make(chan struct{})
	b := s.next(r.URL.Path)
	s.mu.Unlock()

	b(w, r)
}

// next pops the behaviour for path; s.mu must be held.
func (s *Server) next(path string) Behavior {
	if seq, ok := s.perPath[path]; ok && len(seq) > 0 {
		if len(seq) > 1 {
			s.perPath[path] = seq[1:]
		}
		return seq[0]
	}
	if len(s.global) == 0 {
		return OK()
	}
	b := s.global[0]
	if len(s.global) > 1 {
		s.global = s.global[1:]
	}
	return b
}

func pathOf(webhook string) string {
	if u, err := url.Parse(webhook); err == nil && u.Path != "" {
		return u.Path
	}
	return webhook
}
