package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// request is one request a receiver got.
type request struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is an HTTP server that answers in a scripted order (then 204)
// and records what it got.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []http.HandlerFunc
	got     []request
	arrived chan struct{}
}

func newReceiver(t *testing.T, answers ...http.HandlerFunc) *receiver {
	r := &receiver{answers: answers, arrived: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{Header: req.Header.Clone(), Body: body, At: time.Now()})
		var answer http.HandlerFunc = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
		if len(r.answers) > 0 {
			answer, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		r.arrived <- struct{}{}
		answer(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the first n requests, failing the test if they take longer
// than timeout.
func (r *receiver) wait(t *testing.T, n int, timeout time.Duration) []request {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			out := append([]request(nil), r.got[:n]...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("received %d requests in %s, want %d", len(r.got), timeout, n)
		}
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// env is a server whose webhooks may reach the receiver, with a project.
type env struct {
	srv   *testserver.Server
	owner *testserver.User
	pid   string
	rcv   *receiver
}

func newEnv(t *testing.T, d store.Dialect, rcv *receiver, edit ...func(*config.Config)) *env {
	t.Helper()
	srv := testserver.Start(t, d, func(c *config.Config) {
		c.WebhookAllowedPrefixes = []string{rcv.URL + "/"}
		c.Delivery = config.Delivery{
			FetchPollInterval: 100 * time.Millisecond,
			RetryBase:         20 * time.Millisecond,
			ChannelInterval:   time.Millisecond,
			ChannelBurst:      1000,
			HTTPTimeout:       2 * time.Second,
			StopTimeout:       3 * time.Second,
		}
		for _, e := range edit {
			e(c)
		}
	})
	owner := srv.SignUp("Owner")
	return &env{srv: srv, owner: owner, pid: owner.CreateProject("Hooks"), rcv: rcv}
}

type endpoint struct {
	ID, Name, URLMasked string
	Enabled             bool
	DisabledReason      *string
	LastDeliveryStatus  *string
}

const endpointFields = `id name urlMasked enabled disabledReason lastDeliveryStatus`

// add adds an endpoint on the receiver selecting events, and returns it
// with its secret.
func (e *env) add(t *testing.T, name string, events ...string) (endpoint, string) {
	t.Helper()
	var out struct {
		AddWebhookEndpoint struct {
			Endpoint endpoint
			Secret   string
		}
	}
	e.owner.MustDo(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { endpoint { `+endpointFields+` } secret } }`,
		map[string]any{"p": e.pid, "i": map[string]any{"name": name, "url": e.rcv.URL + "/hooks/" + name + "?token=T0ps3cret", "events": events}}, &out)
	return out.AddWebhookEndpoint.Endpoint, out.AddWebhookEndpoint.Secret
}

func (e *env) createApproval(t *testing.T, key string) string {
	t.Helper()
	var out struct {
		CreateApproval struct {
			Token    string
			Approval struct{ ID string }
		}
	}
	e.owner.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { token approval { id } } }`,
		map[string]any{"p": e.pid, "i": map[string]any{"keyPath": key, "value": "approved", "refId": "ref-1"}}, &out)
	return out.CreateApproval.Approval.ID
}

type delivery struct {
	ID, Status     string
	Attempts       int
	LastStatusCode *int
}

// deliveries lists an endpoint's deliveries, newest first.
func (e *env) deliveries(t *testing.T, endpointID string) []delivery {
	t.Helper()
	var out struct {
		Node struct {
			WebhookEndpoints struct {
				Edges []struct {
					Node struct {
						ID         string
						Deliveries struct{ Edges []struct{ Node delivery } }
					}
				}
			}
		}
	}
	e.owner.MustDo(`query($p: ID!) { node: project(id: $p) { webhookEndpoints(first: 5) { edges { node { id deliveries(first: 5) { edges { node { id status attempts lastStatusCode } } } } } } } }`,
		map[string]any{"p": e.pid}, &out)
	var ds []delivery
	for _, edge := range out.Node.WebhookEndpoints.Edges {
		if edge.Node.ID == endpointID {
			for _, d := range edge.Node.Deliveries.Edges {
				ds = append(ds, d.Node)
			}
		}
	}
	return ds
}

// settled waits until the endpoint's deliveries all reached a final status.
func (e *env) settled(t *testing.T, endpointID string, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := e.deliveries(t, endpointID)
		done := len(ds) >= n
		for _, d := range ds {
			if d.Status != "DELIVERED" && d.Status != "FAILED" && d.Status != "SKIPPED" {
				done = false
			}
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not settle: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) endpoint(t *testing.T, id string) endpoint {
	t.Helper()
	var out struct {
		Project struct {
			WebhookEndpoints struct{ Edges []struct{ Node endpoint } }
		}
	}
	e.owner.MustDo(`query($p: ID!) { project(id: $p) { webhookEndpoints(first: 10) { edges { node { `+endpointFields+` } } } } }`, map[string]any{"p": e.pid}, &out)
	for _, edge := range out.Project.WebhookEndpoints.Edges {
		if edge.Node.ID == id {
			return edge.Node
		}
	}
	t.Fatalf("endpoint %s not listed", id)
	return endpoint{}
}

// verify checks a request's Standard Webhooks headers against secret.
func verify(t *testing.T, r request, secret string) {
	t.Helper()
	ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q", r.Header.Get("webhook-timestamp"))
	}
	want, err := webhook.Sign(secret, r.Header.Get("webhook-id"), time.Unix(ts, 0), r.Body)
	storetest.Must(t, err)
	for _, sig := range splitSpace(r.Header.Get("webhook-signature")) {
		if sig == want {
			return
		}
	}
	t.Errorf("webhook-signature %q has no %q", r.Header.Get("webhook-signature"), want)
}

func splitSpace(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func TestSignedEventsReachTheEndpoint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, newReceiver(t))
		ep, secret := e.add(t, "ci", "APPROVAL_CREATED", "APPROVAL_INVALIDATED")
		if len(secret) < len(webhook.SecretPrefix)+32 || secret[:len(webhook.SecretPrefix)] != webhook.SecretPrefix {
			t.Fatalf("secret %q", secret)
		}
		if ep.URLMasked != e.rcv.URL+"/••••" {
			t.Errorf("urlMasked %q", ep.URLMasked)
		}
		id := e.createApproval(t, "app/deploy")
		e.owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "no") { status } }`, map[string]any{"id": id}, nil)
		got := e.rcv.wait(t, 2, 20*time.Second)
		ds := e.settled(t, ep.ID, 2)
		ids := map[string]bool{}
		for _, d := range ds {
			ids[d.ID] = true
		}
		// Deliveries run concurrently: match the requests by type.
		sort.Slice(got, func(i, j int) bool { return string(got[i].Body) < string(got[j].Body) })
		for i, r := range got {
			verify(t, r, secret)
			var body struct {
				ID, Type   string
				OccurredAt time.Time
				Project    struct{ ID, Name string }
				Approval   struct{ ID, KeyPath, RefID, Status string }
			}
			storetest.Must(t, json.Unmarshal(r.Body, &body))
			wantType, wantStatus := []string{"APPROVAL_CREATED", "APPROVAL_INVALIDATED"}[i], []string{"PENDING", "INVALIDATED"}[i]
			if body.Type != wantType || body.Approval.Status != wantStatus || body.Approval.ID != id || body.Approval.KeyPath != "app/deploy" ||
				body.Approval.RefID != "ref-1" || body.Project.ID != e.pid || body.Project.Name != "Hooks" || body.ID == "" || body.OccurredAt.IsZero() {
				t.Errorf("request %d body %s", i, r.Body)
			}
			if r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("content type %q", r.Header.Get("Content-Type"))
			}
			// webhook-id is the delivery's id.
			if !ids[r.Header.Get("webhook-id")] {
				t.Errorf("webhook-id %q, deliveries %+v", r.Header.Get("webhook-id"), ds)
			}
		}
		if ep := e.endpoint(t, ep.ID); ep.LastDeliveryStatus == nil || *ep.LastDeliveryStatus != "DELIVERED" {
			t.Errorf("endpoint after delivery: %+v", ep)
		}
		// Nothing shows the URL's path or query, nor the secret.
		for _, s := range []string{"T0ps3cret", secret} {
			if contains(e.srv.Logs.String(), s) {
				t.Errorf("the log contains %q", s)
			}
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// 5xx, a timeout and 429 with Retry-After are retried, each attempt with
// the same webhook-id, until the endpoint accepts; 429 is no failed attempt.
func TestRetriesKeepTheWebhookID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		rateLimited := func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
		rcv := newReceiver(t, status(http.StatusServiceUnavailable), hang, rateLimited, status(http.StatusOK))
		e := newEnv(t, d, rcv, func(c *config.Config) { c.Delivery.HTTPTimeout = time.Second })
		ep, secret := e.add(t, "retry", "APPROVAL_CREATED")
		e.createApproval(t, "app/retry")
		got := rcv.wait(t, 4, 30*time.Second)
		ds := e.settled(t, ep.ID, 1)
		if ds[0].Status != "DELIVERED" || ds[0].Attempts != 4 {
			t.Errorf("delivery %+v, want DELIVERED after 4 requests", ds[0])
		}
		for _, r := range got {
			if r.Header.Get("webhook-id") != ds[0].ID {
				t.Errorf("webhook-id %q, want %q on every attempt", r.Header.Get("webhook-id"), ds[0].ID)
			}
			if string(r.Body) != string(got[0].Body) {
				t.Errorf("body changed between attempts: %s / %s", got[0].Body, r.Body)
			}
			verify(t, r, secret)
		}
		if wait := got[3].At.Sub(got[2].At); wait < 900*time.Millisecond {
			t.Errorf("attempt after 429 with Retry-After: 1 came after %s", wait)
		}
	})
}

// A redirect fails the delivery at once and is not followed; 410 Gone
// fails it and disables the endpoint.
func TestRedirectFailsAndGoneDisables(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		redirect := func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
		rcv := newReceiver(t, redirect, status(http.StatusGone))
		e := newEnv(t, d, rcv)
		redirected, _ := e.add(t, "redirected", "APPROVAL_CREATED")
		e.createApproval(t, "app/one")
		rcv.wait(t, 1, 20*time.Second)
		if ds := e.settled(t, redirected.ID, 1); ds[0].Status != "FAILED" || ds[0].Attempts != 1 {
			t.Errorf("redirected delivery %+v, want FAILED after 1 attempt", ds[0])
		}
		if ep := e.endpoint(t, redirected.ID); !ep.Enabled {
			t.Errorf("a redirect disabled the endpoint: %+v", ep)
		}
		e.owner.MustDo(`mutation($id: ID!) { removeWebhookEndpoint(id: $id) { removedEndpointId } }`, map[string]any{"id": redirected.ID}, nil)

		gone, _ := e.add(t, "gone", "APPROVAL_CREATED")
		e.createApproval(t, "app/two")
		rcv.wait(t, 2, 20*time.Second)
		if ds := e.settled(t, gone.ID, 1); ds[0].Status != "FAILED" {
			t.Errorf("gone delivery %+v", ds[0])
		}
		if ep := e.endpoint(t, gone.ID); ep.Enabled || ep.DisabledReason == nil || *ep.DisabledReason != "410 Gone" {
			t.Errorf("endpoint after 410: %+v", ep)
		}
		// Nothing was sent where the redirect pointed.
		for _, r := range rcv.wait(t, 2, time.Second) {
			if r.Header.Get("webhook-id") == "" {
				t.Errorf("a request without webhook-id reached the receiver")
			}
		}
		if n := len(rcv.wait(t, 2, time.Second)); n != 2 {
			t.Errorf("%d requests", n)
		}
	})
}

// An endpoint whose deliveries keep failing, all their attempts, is
// disabled with a reason.
func TestSustainedFailureDisables(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		failing := make([]http.HandlerFunc, 40)
		for i := range failing {
			failing[i] = status(http.StatusInternalServerError)
		}
		rcv := newReceiver(t, failing...)
		e := newEnv(t, d, rcv, func(c *config.Config) {
			c.Delivery.RetryBase = time.Microsecond
			c.Delivery.WebhookFailedDeliveries = 2
			c.Delivery.WebhookFailingFor = time.Millisecond
		})
		ep, _ := e.add(t, "down", "APPROVAL_CREATED")
		e.createApproval(t, "app/a")
		if ds := e.settled(t, ep.ID, 1); ds[0].Status != "FAILED" || ds[0].Attempts != 10 {
			t.Fatalf("first delivery %+v, want FAILED after 10 attempts", ds[0])
		}
		if ep := e.endpoint(t, ep.ID); !ep.Enabled {
			t.Fatalf("disabled after one failed delivery: %+v", ep)
		}
		e.createApproval(t, "app/b")
		e.settled(t, ep.ID, 2)
		if ep := e.endpoint(t, ep.ID); ep.Enabled || ep.DisabledReason == nil || !contains(*ep.DisabledReason, "2 deliveries in a row failed") {
			t.Errorf("endpoint after sustained failure: %+v", ep)
		}
	})
}

// URLs that are not HTTPS or point inside the network are refused with
// BAD_USER_INPUT naming the field, and nothing is stored.
func TestBadEndpointURLsAreRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, newReceiver(t))
		for _, url := range []string{
			"http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://[::1]/hook",
			"https://169.254.169.254/latest", "https://localhost/hook", "https://metadata.internal/x", "https://user:pw@example.com/",
			"ftp://example.com/", "not a url", "https://example.com/a\x00b",
		} {
			err := e.owner.ErrorCode(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { secret } }`,
				map[string]any{"p": e.pid, "i": map[string]any{"name": "bad", "url": url, "events": []string{"APPROVAL_CREATED"}}})
			if err.Code() != "BAD_USER_INPUT" || (err.Field() != "url" && err.Field() != "input.url") {
				t.Errorf("%q: %s %s (field %q), want BAD_USER_INPUT on url", url, err.Code(), err.Message, err.Field())
			}
			if contains(err.Message, e.rcv.URL) {
				t.Errorf("%q: the message names an allowed prefix: %s", url, err.Message)
			}
		}
		var n int64
		storetest.Must(t, e.srv.App.Store.DB(t.Context()).Table("webhook_endpoints").Count(&n).Error)
		if n != 0 {
			t.Errorf("%d endpoints stored", n)
		}
		// A public HTTPS URL is accepted.
		e.owner.MustDo(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { secret } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "ok", "url": "https://hooks.example.com/ottr", "events": []string{"APPROVAL_CREATED"}, "enabled": false}}, nil)
		// A read key cannot add one.
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		err := e.srv.Client(readKey).ErrorCode(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { secret } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "r", "url": "https://hooks.example.com/r", "events": []string{"APPROVAL_CREATED"}}})
		if err.Code() != "FORBIDDEN" {
			t.Errorf("read key: %s, want FORBIDDEN", err.Code())
		}
	})
}
