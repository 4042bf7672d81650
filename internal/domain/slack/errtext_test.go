package slack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
)

// infrastructure matches what a user-visible error text must never hold:
// IPv4 or IPv6 addresses, ports, the resolver, the dialled network.
var infrastructure = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+|\[?[0-9a-fA-F]*::[0-9a-fA-F:]*\]?|:\d+\b|lookup|dial|tcp|udp|127\.|localhost|/services/`)

func publicText(t *testing.T, r Result) string {
	t.Helper()
	if r.Err == nil || r.StatusCode != 0 {
		t.Fatalf("want a transport error, got %+v", r)
	}
	text := ErrorText(r, Classify(r))
	if reason := Classify(r).Reason; reason != text {
		t.Errorf("outcome reason %q differs from the error text %q", reason, text)
	}
	if m := infrastructure.FindString(text); m != "" {
		t.Errorf("error text %q reveals %q (raw error: %v)", text, m, r.Err)
	}
	return text
}

// Real failures of real requests, each shown without the resolver, the
// addresses or the ports involved.
func TestPublicErrorOfRealFailures(t *testing.T) {
	t.Parallel()
	const slackURL = "https://hooks.slack.com/services/T1/B1/" + secret
	body := []byte(`{"text":"x"}`)

	t.Run("resolver unreachable", func(t *testing.T) {
		t.Parallel()
		r := NewClient(Validator{}, WithResolver(slacktest.Unreachable())).Post(context.Background(), slackURL, body)
		if got := publicText(t, r); got != "could not resolve host hooks.slack.com" {
			t.Errorf("text %q", got)
		}
		var dns *net.DNSError
		if !errors.As(r.Err, &dns) || dns.Server == "" {
			t.Errorf("the raw error, kept for the log, lost the resolver: %v", r.Err)
		}
	})
	t.Run("no such host", func(t *testing.T) {
		t.Parallel()
		r := NewClient(Validator{}, WithResolver(slacktest.Unresolvable())).Post(context.Background(), slackURL, body)
		if got := publicText(t, r); got != "could not resolve host hooks.slack.com" {
			t.Errorf("text %q", got)
		}
	})
	t.Run("forbidden address", func(t *testing.T) {
		t.Parallel()
		r := NewClient(Validator{}, WithResolver(slacktest.Resolver([4]byte{10, 9, 8, 7}))).Post(context.Background(), slackURL, body)
		if got := publicText(t, r); got != "refused: the webhook host resolves to a forbidden address (internal, private or reserved)" {
			t.Errorf("text %q", got)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := slacktest.NewServer()
		c := NewClient(Validator{Prefixes: []string{srv.Prefix()}})
		url := srv.WebhookURL("T1", "B1", secret)
		srv.Close()
		if got := publicText(t, c.Post(context.Background(), url, body)); got != "connection refused" {
			t.Errorf("text %q", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		srv, c := newFake(t, WithTimeout(200*time.Millisecond))
		url := srv.WebhookURL("T1", "B1", secret)
		srv.RespondTo(url, slacktest.Hang())
		if got := publicText(t, c.Post(context.Background(), url, body)); got != "timed out" {
			t.Errorf("text %q", got)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c := NewClient(Validator{Prefixes: []string{srv.URL + "/"}})
		if got := publicText(t, c.Post(context.Background(), srv.URL+"/services/T1/B1/"+secret, body)); got != "TLS certificate not valid for the webhook host" {
			t.Errorf("text %q", got)
		}
	})
	t.Run("closed without an answer", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				// Read the whole request, so that the client has sent it,
				// then hang up without an answer.
				if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
				}
				conn.Close()
			}
		}()
		base := "http://" + ln.Addr().String()
		c := NewClient(Validator{Prefixes: []string{base + "/"}})
		if got := publicText(t, c.Post(context.Background(), base+"/services/T1/B1/"+secret, body)); got != "connection closed before a complete answer" {
			t.Errorf("text %q", got)
		}
	})
}

// Errors as the transport wraps them, for failures a test cannot cause.
func TestPublicError(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		op := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 443},
			Err: os.NewSyscallError("connect", err)}
		return &url.Error{Op: "Post", URL: "https://10.0.0.9:443/••••", Err: op}
	}
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{wrap(syscall.ECONNRESET), "connection reset"},
		{wrap(syscall.ENETUNREACH), "network unreachable"},
		{wrap(syscall.EHOSTUNREACH), "host unreachable"},
		{wrap(syscall.ECONNREFUSED), "connection refused"},
		{wrap(os.ErrDeadlineExceeded), "timed out"},
		{wrap(context.Canceled), "canceled before an answer"},
		{&url.Error{Op: "Post", URL: "x", Err: &net.DNSError{Err: "i/o timeout", Name: "hooks.slack.com", Server: "10.0.0.2:53", IsTimeout: true}},
			"timed out resolving host hooks.slack.com"},
		{wrap(fmt.Errorf("%w: 10.0.0.9 is private", ErrForbiddenAddress)), "refused: the webhook host resolves to a forbidden address (internal, private or reserved)"},
		{wrap(errors.New("something odd at 10.0.0.9")), "could not reach the webhook"},
		{errors.New("read /var/run/x.sock: odd"), "request failed"},
		{Validator{}.Validate("http://10.0.0.9/x"), "webhook URL must start with https://hooks.slack.com/services/ and look like https://hooks.slack.com/services/T000/B000/XXXX"},
	}
	for _, tc := range cases {
		if got := PublicError(tc.err); got != tc.want {
			t.Errorf("PublicError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
