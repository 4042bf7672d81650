package live_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const approvalUpdated = `subscription($id: ID!) {
  approvalUpdated(id: $id) { id status failedPinAttempts executedAction { key } }
}`

type approvalState struct {
	ID                string
	Status            string
	FailedPinAttempts int
	ExecutedAction    *struct{ Key string }
}

// approvals is a project with a WRITE key and a link opener.
type approvals struct {
	t     *testing.T
	srv   *testserver.Server
	clock *testserver.Clock
	pid   string
	write *testserver.Client
	key   string
	anon  *testserver.Client
}

func newApprovals(t *testing.T, d store.Dialect) *approvals {
	clock := &testserver.Clock{}
	srv := testserver.Start(t, d, testserver.WithClock(clock))
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Deploys")
	_, key := owner.CreateAPIKey(pid, "WRITE")
	return &approvals{t: t, srv: srv, clock: clock, pid: pid, write: srv.Client(key), key: key, anon: srv.Client("")}
}

// create makes an approval and returns its id and link token.
func (a *approvals) create(input map[string]any) (id, token string) {
	a.t.Helper()
	var out struct {
		CreateApproval struct {
			Token    string
			Approval struct{ ID string }
		}
	}
	a.write.MustDo(`mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { token approval { id } } }`,
		map[string]any{"p": a.pid, "i": input}, &out)
	return out.CreateApproval.Approval.ID, out.CreateApproval.Token
}

// execute opens the link and sends action with pin, as the person would.
func (a *approvals) execute(token, action, pin string) {
	a.t.Helper()
	var link struct{ ApprovalLink struct{ Nonce string } }
	a.anon.MustDo(`query($t: String!) { approvalLink(token: $t) { nonce } }`, map[string]any{"t": token}, &link)
	a.anon.Do(`mutation($t: String!, $n: String!, $a: String!, $pin: String) {
		executeApproval(token: $t, nonce: $n, action: $a, pin: $pin) { status } }`,
		map[string]any{"t": token, "n": link.ApprovalLink.Nonce, "a": action, "pin": pin})
}

func (a *approvals) subscribe(id string) *testserver.Sub {
	return a.srv.Connect(testserver.TransportWS, a.key).Subscribe(approvalUpdated, map[string]any{"id": id})
}

// expectState reads the next result, which must be the approval in status
// with failed attempts.
func expectState(t *testing.T, sub *testserver.Sub, status string, failed int) approvalState {
	t.Helper()
	r := sub.Next()
	if r.Complete || len(r.Errors) > 0 {
		t.Fatalf("got complete=%v errors=%+v, want %s", r.Complete, r.Errors, status)
	}
	var out struct{ ApprovalUpdated approvalState }
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	if got := out.ApprovalUpdated; got.Status != status || got.FailedPinAttempts != failed {
		t.Fatalf("got %s with %d failed attempts, want %s with %d", got.Status, got.FailedPinAttempts, status, failed)
	}
	return out.ApprovalUpdated
}

func expectComplete(t *testing.T, sub *testserver.Sub) {
	t.Helper()
	if r := sub.Next(); !r.Complete {
		t.Fatalf("got %+v, want the end of the stream", r)
	}
}

func TestApprovalUpdatedUntilExecuted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		a := newApprovals(t, d)
		id, token := a.create(map[string]any{"keyPath": "app/deploy", "value": "yes", "pin": "2468", "maxPinAttempts": 3})
		sub := a.subscribe(id)
		expectState(t, sub, "PENDING", 0) // the state at once

		a.execute(token, "approve", "0000")
		expectState(t, sub, "PENDING", 1)
		a.execute(token, "approve", "2468")
		if got := expectState(t, sub, "EXECUTED", 1); got.ExecutedAction == nil || got.ExecutedAction.Key != "approve" {
			t.Fatalf("executed approval %+v, want action approve", got)
		}
		expectComplete(t, sub)
	})
}

func TestApprovalUpdatedUntilLocked(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		a := newApprovals(t, d)
		id, token := a.create(map[string]any{"keyPath": "app/deploy", "value": "yes", "pin": "2468", "maxPinAttempts": 2})
		sub := a.subscribe(id)
		expectState(t, sub, "PENDING", 0)
		a.execute(token, "approve", "0000")
		expectState(t, sub, "PENDING", 1)
		a.execute(token, "approve", "1111")
		expectState(t, sub, "LOCKED", 2)
		expectComplete(t, sub)
	})
}

func TestApprovalUpdatedUntilInvalidated(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		a := newApprovals(t, d)
		id, _ := a.create(map[string]any{"keyPath": "app/deploy", "value": "yes"})
		sub := a.subscribe(id)
		expectState(t, sub, "PENDING", 0)
		a.write.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "superseded") { status } }`, map[string]any{"id": id}, nil)
		expectState(t, sub, "INVALIDATED", 0)
		expectComplete(t, sub)

		// Subscribing to a final approval tells its state and ends.
		again := a.subscribe(id)
		expectState(t, again, "INVALIDATED", 0)
		expectComplete(t, again)
	})
}

// TestApprovalUpdatedWhenTimeRunsOut: no event marks the expiry of an
// approval nobody opens; the stream says EXPIRED when its time has come.
func TestApprovalUpdatedWhenTimeRunsOut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		a := newApprovals(t, d)
		// The shortest TTL is 10 s: create it on a clock set 9.7 s back, so
		// that it expires 0.3 s from now, then put the clock right.
		a.clock.Advance(-9700 * time.Millisecond)
		id, _ := a.create(map[string]any{"keyPath": "app/deploy", "value": "yes", "ttlSeconds": 10})
		a.clock.Advance(9700 * time.Millisecond)
		sub := a.subscribe(id)
		expectState(t, sub, "PENDING", 0)
		expectState(t, sub, "EXPIRED", 0)
		expectComplete(t, sub)
	})
}

func TestApprovalUpdatedRefusesOthers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		a := newApprovals(t, d)
		id, _ := a.create(map[string]any{"keyPath": "app/deploy", "value": "yes"})
		bob := a.srv.SignUp("Bob")
		for name, cred := range map[string]string{"another tenant": bob.AccessToken, "anonymous": ""} {
			sub := a.srv.Connect(testserver.TransportWS, cred).Subscribe(approvalUpdated, map[string]any{"id": id})
			want := map[string]string{"another tenant": "NOT_FOUND", "anonymous": "UNAUTHENTICATED"}[name]
			if r := sub.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != want {
				t.Fatalf("%s: got %+v, want %s", name, r, want)
			}
			expectComplete(t, sub)
		}
		missing := a.subscribe("0197a5d2-7e43-7c3e-9b4a-2f1c6d8e9a01")
		if r := missing.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("missing approval: got %+v, want NOT_FOUND", r)
		}
	})
}
