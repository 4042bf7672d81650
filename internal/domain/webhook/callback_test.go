package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// rotateCallbackSecret rotates the project's callback secret and returns
// the new one.
func (e *env) rotateCallbackSecret(t *testing.T, overlapSeconds int) (string, *time.Time) {
	t.Helper()
	var out struct {
		RotateCallbackSecret struct {
			Secret                  string
			PreviousSecretExpiresAt *time.Time
		}
	}
	e.owner.MustDo(`mutation($p: ID!, $o: Int) { rotateCallbackSecret(projectId: $p, overlapSeconds: $o) { secret previousSecretExpiresAt } }`,
		map[string]any{"p": e.pid, "o": overlapSeconds}, &out)
	return out.RotateCallbackSecret.Secret, out.RotateCallbackSecret.PreviousSecretExpiresAt
}

// createWithCallback creates an approval with a PIN whose events go to
// callback, and returns its id and link.
func (e *env) createWithCallback(t *testing.T, key, callback string) (id, link string) {
	t.Helper()
	var out struct {
		CreateApproval struct {
			URL      string
			Approval struct{ ID string }
		}
	}
	e.owner.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url approval { id } } }`,
		map[string]any{"p": e.pid, "i": map[string]any{"keyPath": key, "value": "approved", "pin": "2468", "callbackUrl": callback}}, &out)
	return out.CreateApproval.Approval.ID, out.CreateApproval.URL
}

// callbackDeliveries lists an approval's callback deliveries, once all n
// of them are final.
func (e *env) callbackDeliveries(t *testing.T, approvalID string, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Approval struct {
				CallbackDeliveries struct {
					TotalCount int
					Edges      []struct{ Node delivery }
				}
			}
		}
		e.owner.MustDo(`query($id: ID!) { approval(id: $id) { callbackDeliveries(first: 10) { totalCount edges { node { id status attempts lastStatusCode } } } } }`,
			map[string]any{"id": approvalID}, &out)
		var ds []delivery
		done := out.Approval.CallbackDeliveries.TotalCount == n
		for _, edge := range out.Approval.CallbackDeliveries.Edges {
			ds = append(ds, edge.Node)
			if edge.Node.Status != "DELIVERED" && edge.Node.Status != "FAILED" {
				done = false
			}
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback deliveries did not settle: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An approval created with a callback URL sends every one of its events
// there, signed with the project's callback secret (and, after a rotation,
// with the previous one too during the overlap), retried with the same
// webhook-id, and listed on the approval; the official Standard Webhooks
// library verifies them. An approval without one sends nothing.
func TestApprovalCallbackReceivesEveryEventOfItsApproval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		rcv := newReceiver(t, status(http.StatusServiceUnavailable))
		e := newEnv(t, d, rcv)
		first, exp := e.rotateCallbackSecret(t, 0)
		if !strings.HasPrefix(first, "whsec_") || exp != nil {
			t.Fatalf("first callback secret %q, previous until %v", first, exp)
		}
		e.createApproval(t, "app/no-callback")
		id, link := e.createWithCallback(t, "app/deploy", rcv.URL+"/cb/deploy?token=CbS3cret")
		// APPROVAL_CREATED: 503, then delivered on the retry.
		created := rcv.wait(t, 2, 20*time.Second)
		if created[0].Header.Get("webhook-id") != created[1].Header.Get("webhook-id") || string(created[0].Body) != string(created[1].Body) {
			t.Errorf("the retry changed webhook-id or body: %v / %v", created[0].Header, created[1].Header)
		}

		second, exp := e.rotateCallbackSecret(t, 3600)
		if second == first || exp == nil || time.Until(*exp) < 59*time.Minute {
			t.Fatalf("rotation: %q until %v", second, exp)
		}
		if _, err := e.srv.ExecuteLink(link, "", "0000"); err != nil {
			t.Fatalf("wrong PIN: %v", err)
		}
		if st, err := e.srv.ExecuteLink(link, "", "2468"); err != nil || st != http.StatusOK {
			t.Fatalf("execute: %d %v", st, err)
		}
		got := rcv.wait(t, 4, 20*time.Second)
		ds := e.callbackDeliveries(t, id, 3)
		ids := map[string]int{}
		for _, d := range ds {
			ids[d.ID] = d.Attempts
			if d.Status != "DELIVERED" {
				t.Errorf("delivery %+v", d)
			}
		}
		later := got[2:]
		// Deliveries run concurrently: order them by type.
		sort.Slice(later, func(i, j int) bool { return typeOf(t, later[i]) < typeOf(t, later[j]) })
		types := []string{}
		for _, r := range append([]request{got[1]}, later...) {
			var body struct {
				Type     string
				Approval struct{ ID, KeyPath, Status string }
			}
			storetest.Must(t, json.Unmarshal(r.Body, &body))
			types = append(types, body.Type+"/"+body.Approval.Status)
			if body.Approval.ID != id || body.Approval.KeyPath != "app/deploy" {
				t.Errorf("callback body %s", r.Body)
			}
			if _, ok := ids[r.Header.Get("webhook-id")]; !ok {
				t.Errorf("webhook-id %q is no delivery of the approval %+v", r.Header.Get("webhook-id"), ds)
			}
		}
		if want := "APPROVAL_CREATED/PENDING APPROVAL_EXECUTED/EXECUTED PIN_FAILED/PENDING"; strings.Join(types, " ") != want {
			t.Errorf("callback events %v, want %s", types, want)
		}
		if ids[got[0].Header.Get("webhook-id")] != 2 {
			t.Errorf("the retried delivery counts %d attempts, want 2", ids[got[0].Header.Get("webhook-id")])
		}
		// Before the rotation, the first secret signs; after it, both.
		verify(t, got[1], first)
		for _, r := range later {
			verify(t, r, second)
			verify(t, r, first)
		}
		verdicts := jsVerify(t, []request{got[1], later[0], later[1], got[1]}, []string{first, second, first, second})
		for i, want := range []string{"ok", "ok", "ok", "refused: "} {
			if i >= len(verdicts) || !strings.HasPrefix(verdicts[i], want) {
				t.Errorf("official library verdict %d: %q, want %q (all %q)", i, verdicts, want, verdicts)
			}
		}
		// Nothing more came: the approval without a callback sent nothing.
		if n := len(rcv.wait(t, 4, time.Second)); n != 4 {
			t.Errorf("%d requests", n)
		}
		rcv.mu.Lock()
		if len(rcv.got) != 4 {
			t.Errorf("%d requests reached the receiver, want 4", len(rcv.got))
		}
		rcv.mu.Unlock()
		// Sent again on demand, with the same webhook-id; not by a READ key.
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		const redeliver = `mutation($id: ID!) { redeliverCallback(deliveryId: $id) { id approvalId } }`
		again := got[1].Header.Get("webhook-id")
		if err := e.srv.Client(readKey).ErrorCode(redeliver, map[string]any{"id": again}); err.Code() != "FORBIDDEN" {
			t.Errorf("READ key redelivering: %s, want FORBIDDEN", err.Code())
		}
		var redelivered struct {
			RedeliverCallback struct{ ID, ApprovalID string }
		}
		e.owner.MustDo(redeliver, map[string]any{"id": again}, &redelivered)
		if redelivered.RedeliverCallback.ID != again || redelivered.RedeliverCallback.ApprovalID != id {
			t.Errorf("redelivered %+v", redelivered)
		}
		if r := rcv.wait(t, 5, 20*time.Second)[4]; r.Header.Get("webhook-id") != again || string(r.Body) != string(got[1].Body) {
			t.Errorf("redelivery: webhook-id %q, body %s", r.Header.Get("webhook-id"), r.Body)
		}
		if strings.Contains(e.srv.Logs.String(), "CbS3cret") {
			t.Error("the log shows the callback URL's query")
		}
	})
}

// Callback URLs follow the endpoints' rules: not HTTPS, internal, NUL or
// not UTF-8 answer BAD_USER_INPUT on callbackUrl (callback_url over REST)
// and store nothing, neither the approval nor a callback secret; a READ
// key cannot create an approval, callback or not.
func TestBadCallbackURLsAreRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, newReceiver(t))
		const create = `mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { url } }`
		bad := []string{
			"http://example.com/cb", "https://127.0.0.1/cb", "https://10.1.2.3/cb", "https://[::1]/cb", "https://169.254.169.254/latest",
			"https://localhost/cb", "https://metadata.internal/x", "https://user:pw@example.com/", "ftp://example.com/", "not a url",
			"https://example.com/a\x00b", "https://example.com/" + strings.Repeat("a", 1000),
		}
		for _, url := range bad {
			err := e.owner.ErrorCode(create, map[string]any{"p": e.pid, "i": map[string]any{"keyPath": "a/b", "value": "x", "callbackUrl": url}})
			if err.Code() != "BAD_USER_INPUT" || (err.Field() != "callbackUrl" && err.Field() != "input.callbackUrl") {
				t.Errorf("%q: %s %s (field %q), want BAD_USER_INPUT on callbackUrl", url, err.Code(), err.Message, err.Field())
			}
			if strings.Contains(err.Message, e.rcv.URL) {
				t.Errorf("%q: the message names an allowed prefix: %s", url, err.Message)
			}
		}
		_, write := e.owner.CreateAPIKey(e.pid, "WRITE")
		_, read := e.owner.CreateAPIKey(e.pid, "READ")
		post := func(key, body string) (int, string) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/approvals", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			storetest.Must(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		for _, body := range []string{
			`{"key_path": "a/b", "value": "x", "callback_url": "http://example.com/cb"}`,
			`{"key_path": "a/b", "value": "x", "callback_url": "https://10.0.0.1/cb"}`,
			`{"key_path": "a/b", "value": "x", "callback_url": "https://example.com/\u0000"}`,
			"{\"key_path\": \"a/b\", \"value\": \"x\", \"callback_url\": \"https://example.com/\xff\"}",
			`{"key_path": "a/b", "value": "x", "callback_url": 5}`,
		} {
			st, b := post(write, body)
			if st != http.StatusBadRequest || !strings.Contains(b, `"BAD_USER_INPUT"`) || (!strings.Contains(b, `"field":"callback_url"`) && !strings.Contains(b, `"field":"body"`)) {
				t.Errorf("REST %s: %d %s", body, st, b)
			}
		}
		if st, b := post(read, `{"key_path": "a/b", "value": "x", "callback_url": "`+e.rcv.URL+`/cb"}`); st != http.StatusForbidden || !strings.Contains(b, "FORBIDDEN") {
			t.Errorf("READ key with callback_url: %d %s", st, b)
		}
		err := e.srv.Client(read).ErrorCode(create, map[string]any{"p": e.pid, "i": map[string]any{"keyPath": "a/b", "value": "x", "callbackUrl": e.rcv.URL + "/cb"}})
		if err.Code() != "FORBIDDEN" {
			t.Errorf("READ key over GraphQL: %s, want FORBIDDEN", err.Code())
		}
		err = e.srv.Client(read).ErrorCode(`mutation($p: ID!) { rotateCallbackSecret(projectId: $p) { secret } }`, map[string]any{"p": e.pid})
		if err.Code() != "FORBIDDEN" {
			t.Errorf("READ key rotating the callback secret: %s, want FORBIDDEN", err.Code())
		}
		for _, table := range []string{"approvals", "callback_secrets", "events"} {
			var n int64
			storetest.Must(t, e.srv.App.Store.DB(t.Context()).Table(table).Count(&n).Error)
			if n != 0 {
				t.Errorf("%d rows in %s", n, table)
			}
		}
		// A good one over REST creates the approval and, on first use,
		// the project's callback secret.
		if st, b := post(write, `{"key_path": "a/b", "value": "x", "callback_url": "`+e.rcv.URL+`/cb"}`); st != http.StatusCreated {
			t.Fatalf("REST create with a callback: %d %s", st, b)
		}
		if r := e.rcv.wait(t, 1, 20*time.Second)[0]; !strings.Contains(string(r.Body), `"APPROVAL_CREATED"`) {
			t.Errorf("REST callback body %s", r.Body)
		}
		var n int64
		storetest.Must(t, e.srv.App.Store.DB(t.Context()).Table("callback_secrets").Count(&n).Error)
		if n != 1 {
			t.Errorf("%d callback secrets after first use", n)
		}
	})
}

func typeOf(t *testing.T, r request) string {
	var body struct{ Type string }
	storetest.Must(t, json.Unmarshal(r.Body, &body))
	return body.Type
}
