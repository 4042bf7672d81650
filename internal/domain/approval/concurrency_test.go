package approval_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const racers = 50

// race sends one request per client at the same moment and returns the
// responses in client order. Each client has its own address, so the
// per-IP link limits stay as they are and none of them is hit.
func race(t *testing.T, clients []*testserver.Client, query string, vars map[string]any) []*testserver.Response {
	t.Helper()
	responses := make([]*testserver.Response, len(clients))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			responses[i] = c.Do(query, vars)
		}()
	}
	close(start)
	wg.Wait()
	return responses
}

func spreadClients(e *env, n int) []*testserver.Client {
	clients := make([]*testserver.Client, n)
	for i := range clients {
		clients[i] = e.anon.FromIP(clientIP(100 + i))
	}
	return clients
}

func TestConcurrentExecutionsSucceedOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "deploy/prod", "initialValue": "waiting", "pin": "8642",
			"actions": []map[string]any{{"key": "approve", "value": "approved"}, {"key": "reject", "value": "rejected"}}})
		nonce := open(t, e.anon, c.Token).Nonce
		responses := race(t, spreadClients(e, racers), executeMutation, executeVars(c.Token, nonce, "approve", ptr("8642")))
		succeeded := 0
		for _, r := range responses {
			switch {
			case len(r.Errors) == 0:
				succeeded++
			case r.Errors[0].Code() != "CONFLICT":
				t.Fatalf("a losing execution answered %s: %s", r.Errors[0].Code(), r.Errors[0].Message)
			}
		}
		if succeeded != 1 {
			t.Fatalf("%d executions succeeded, want exactly 1", succeeded)
		}
		a := e.approval(c.Approval.ID)
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
		// The key was written by the execution alone: its time is the execution's.
		kv := e.key("deploy/prod")
		if a.Status != "EXECUTED" || kv.Value == nil || *kv.Value != "approved" || !kv.UpdatedAt.Equal(*a.ExecutedAt) {
			t.Fatalf("approval %+v, key %+v", a, kv)
		}
	})
}

func TestConcurrentWrongPINsLockOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "pin": "8642"})
		nonce := open(t, e.anon, c.Token).Nonce
		responses := race(t, spreadClients(e, racers), executeMutation, executeVars(c.Token, nonce, "approve", ptr("0000")))
		counted, locked := 0, 0
		for _, r := range responses {
			if len(r.Errors) > 0 {
				if r.Errors[0].Code() != "CONFLICT" {
					t.Fatalf("a wrong PIN answered %s: %s", r.Errors[0].Code(), r.Errors[0].Message)
				}
				continue
			}
			counted++
			if string(r.Data) == `{"executeApproval":{"status":"LOCKED","attemptsRemaining":0,"action":null}}` {
				locked++
			}
		}
		if counted != 5 || locked != 1 {
			t.Fatalf("%d wrong PINs counted and %d locked, want 5 and 1", counted, locked)
		}
		a := e.approval(c.Approval.ID)
		if a.Status != "LOCKED" || a.FailedPinAttempts != 5 {
			t.Fatalf("approval after the race: %+v", a)
		}
		attempts := map[int]bool{}
		var types []string
		for _, ev := range a.Events {
			types = append(types, ev.Type)
			if ev.Type == "PIN_FAILED" {
				attempts[*ev.Attempts] = true
			}
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "PIN_FAILED", "PIN_FAILED", "PIN_FAILED", "TOKEN_LOCKED")
		for n := 1; n <= 5; n++ {
			if !attempts[n] {
				t.Fatalf("no PIN_FAILED with attempts %d: %v", n, types)
			}
		}
	})
}

func TestConcurrentOpensExpireOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "ttlSeconds": 10})
		e.clock.Advance(11 * time.Second)
		for _, r := range race(t, spreadClients(e, racers), linkQuery, map[string]any{"t": c.Token}) {
			if len(r.Errors) == 0 || r.Errors[0].Code() != "CONFLICT" {
				t.Fatalf("opening an expired link answered %+v", r)
			}
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
	})
}
