package slacktest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestOKAnswersLikeSlack(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	t.Cleanup(srv.Close)
	url := srv.WebhookURL("T123", "B456", "secret")
	if url != srv.URL+"/services/T123/B456/secret" {
		t.Fatalf("WebhookURL = %s", url)
	}
	cases := []struct {
		body   string
		status int
		answer string
	}{
		{`{"text":"hi"}`, 200, "ok"},
		{`{"blocks":[{"type":"divider"}]}`, 200, "ok"},
		{`{}`, 400, "no_text"},
		{`not json`, 400, "invalid_payload"},
	}
	for _, tc := range cases {
		if status, answer, _ := post(t, url, tc.body); status != tc.status || answer != tc.answer {
			t.Errorf("%s: %d %q, want %d %q", tc.body, status, answer, tc.status, tc.answer)
		}
	}
	reqs := srv.RequestsTo(url)
	if len(reqs) != len(cases) || reqs[0].Text() != "hi" || reqs[0].Method != http.MethodPost || reqs[0].At.IsZero() {
		t.Errorf("recorded %+v", reqs)
	}
}

func TestSequencesAndPaths(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	t.Cleanup(srv.Close)
	a, b := srv.WebhookURL("T1", "B1", "a"), srv.WebhookURL("T1", "B2", "b")
	srv.Respond(ServerError(), ServerError(), OK())
	srv.RespondTo(b, RateLimited(1500*time.Millisecond), RateLimited(0), Status(404, "no_service"))

	var got []string
	for range 4 {
		status, answer, _ := post(t, a, `{"text":"x"}`)
		got = append(got, http.StatusText(status)+" "+answer)
	}
	want := "Internal Server Error rollup_error|Internal Server Error rollup_error|OK ok|OK ok"
	if strings.Join(got, "|") != want {
		t.Errorf("global sequence: %s", strings.Join(got, "|"))
	}

	status, answer, h := post(t, b, `{"text":"x"}`)
	if status != 429 || answer != "rate_limited" || h.Get("Retry-After") != "2" {
		t.Errorf("rate limited: %d %q Retry-After %q", status, answer, h.Get("Retry-After"))
	}
	status, _, h = post(t, b, `{"text":"x"}`)
	if status != 429 || h.Get("Retry-After") != "" {
		t.Errorf("rate limited without header: %d %q", status, h.Get("Retry-After"))
	}
	for range 2 {
		if status, answer, _ := post(t, b, `{"text":"x"}`); status != 404 || answer != "no_service" {
			t.Errorf("status: %d %q", status, answer)
		}
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	t.Cleanup(srv.Close)
	url := srv.WebhookURL("T1", "B1", "s")
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { post(t, url, `{"text":"x"}`) })
	}
	reqs, err := srv.Wait(3, 5*time.Second)
	if err != nil || len(reqs) != 3 {
		t.Fatalf("Wait: %d, %v", len(reqs), err)
	}
	wg.Wait()
	if _, err := srv.Wait(4, 50*time.Millisecond); err == nil {
		t.Error("Wait for a fourth request succeeded")
	}
}

func TestHangEndsWithClientOrServer(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	srv.Respond(Hang())
	url := srv.WebhookURL("T1", "B1", "s")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"text":"x"}`))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("hanging request answered")
	}

	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"text":"x"}`))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := srv.Wait(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	<-done
}
