package approval_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

func TestOpenShowsTheLinkWithoutLogin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "myapp/deploy", "info": "Deploy to production?", "pin": "2468",
			"actions": []map[string]any{{"key": "approve", "value": "approved", "label": "Deploy", "style": "PRIMARY"},
				{"key": "reject", "value": "rejected", "style": "DANGER"}}})
		l := open(t, e.anon, c.Token)
		if l.ProjectName != "Deploys" || l.KeyPath != "myapp/deploy" || l.Info == nil || *l.Info != "Deploy to production?" ||
			l.Status != "PENDING" || !l.PinRequired || l.AttemptsRemaining != 5 || l.Nonce == "" ||
			!l.ExpiresAt.Equal(c.Approval.ExpiresAt) || len(l.Actions) != 2 ||
			l.Actions[0] != (action{"approve", "approved", "Deploy", "PRIMARY"}) || l.Actions[1] != (action{"reject", "rejected", "reject", "DANGER"}) {
			t.Fatalf("unexpected link: %+v", l)
		}
		// Opening is an access attempt, but it changes nothing while pending.
		open(t, e.anon, c.Token)
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")
	})
}

func TestUnknownTokenIsNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "a", "value": "yes"})
		l := open(t, e.anon, c.Token)
		never := base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text())[:32])
		for _, token := range []string{never, "", c.Token + "x", strings.ToUpper(c.Token)} {
			wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": token}), "NOT_FOUND", "")
			wantError(t, e.anon.ErrorCode(executeMutation, executeVars(token, l.Nonce, "approve", nil)), "NOT_FOUND", "")
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")
	})
}

func TestExecuteSetsTheKeyOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "svc/release", "initialValue": "waiting",
			"actions": []map[string]any{{"key": "approve", "value": "approved"}, {"key": "reject", "value": "rejected"}}})
		l := open(t, e.anon, c.Token)
		got := execute(t, e.anon, c.Token, l.Nonce, "reject", nil)
		if got.Status != "EXECUTED" || got.Action == nil || *got.Action != (action{"reject", "rejected", "reject", "DEFAULT"}) {
			t.Fatalf("unexpected execution: %+v", got)
		}
		a := e.approval(c.Approval.ID)
		if a.Status != "EXECUTED" || a.ExecutedAction == nil || a.ExecutedAction.Key != "reject" || a.ExecutedAt == nil {
			t.Fatalf("unexpected approval: %+v", a)
		}
		kv := e.key("svc/release")
		if kv.Value == nil || *kv.Value != "rejected" || !kv.UpdatedAt.Equal(*a.ExecutedAt) || kv.PendingApproval != nil {
			t.Fatalf("key after execution: %+v, executed at %v", kv, a.ExecutedAt)
		}
		evs := a.Events
		if len(evs) != 2 || evs[1].Type != "APPROVAL_EXECUTED" || evs[1].Action == nil || *evs[1].Action != "reject" ||
			evs[1].KeyPath != "svc/release" || evs[1].ProjectID != e.pid || evs[1].ApprovalID == nil || *evs[1].ApprovalID != a.ID {
			t.Fatalf("unexpected events: %+v", evs)
		}
	})
}

// A link that was executed, invalidated or locked refuses every access
// attempt with CONFLICT and records nothing more.
func TestClosedLinksRefuseWithoutNewEvents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)

		executed := e.create(map[string]any{"keyPath": "k/executed", "value": "yes"})
		nonce := open(t, e.anon, executed.Token).Nonce
		execute(t, e.anon, executed.Token, nonce, "approve", nil)

		invalidated := e.create(map[string]any{"keyPath": "k/invalidated", "value": "yes"})
		invNonce := open(t, e.anon, invalidated.Token).Nonce
		e.write.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "not needed") { status } }`,
			map[string]any{"id": invalidated.Approval.ID}, nil)

		locked := e.create(map[string]any{"keyPath": "k/locked", "value": "yes", "pin": "1234", "maxPinAttempts": 1})
		lockNonce := open(t, e.anon, locked.Token).Nonce
		if got := execute(t, e.anon, locked.Token, lockNonce, "approve", ptr("0000")); got.Status != "LOCKED" || got.AttemptsRemaining != 0 {
			t.Fatalf("one wrong PIN of one allowed: %+v", got)
		}

		for _, tc := range []struct {
			c      created
			nonce  string
			events []string
		}{
			{executed, nonce, []string{"APPROVAL_CREATED", "APPROVAL_EXECUTED"}},
			{invalidated, invNonce, []string{"APPROVAL_CREATED", "APPROVAL_INVALIDATED"}},
			{locked, lockNonce, []string{"APPROVAL_CREATED", "PIN_FAILED", "TOKEN_LOCKED"}},
		} {
			wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": tc.c.Token}), "CONFLICT", "")
			wantError(t, e.anon.ErrorCode(executeMutation, executeVars(tc.c.Token, tc.nonce, "approve", ptr("1234"))), "CONFLICT", "")
			// Even after its time has passed, a closed approval stays as it is.
			e.wantEvents(tc.c.Approval.ID, tc.events...)
		}
		e.clock.Advance(time.Hour)
		for _, c := range []created{executed, invalidated, locked} {
			wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": c.Token}), "CONFLICT", "")
		}
		e.wantEvents(executed.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
		e.wantEvents(locked.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "TOKEN_LOCKED")
		if a := e.approval(locked.Approval.ID); a.Status != "LOCKED" {
			t.Fatalf("locked approval reads %s", a.Status)
		}
	})
}

func TestExpiryOnOpen(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "ttlSeconds": 10})
		e.clock.Advance(9 * time.Second)
		open(t, e.anon, c.Token)
		e.clock.Advance(time.Second) // exactly at expiresAt: expired

		// It reads EXPIRED everywhere before anyone opens it, with no event yet.
		if a := e.approval(c.Approval.ID); a.Status != "EXPIRED" {
			t.Fatalf("status past expiry = %s, want EXPIRED", a.Status)
		}
		if got := e.listStatuses(map[string]any{"status": "EXPIRED"}); len(got) != 1 {
			t.Fatalf("EXPIRED filter found %v", got)
		}
		if got := e.listStatuses(map[string]any{"status": "PENDING"}); len(got) != 0 {
			t.Fatalf("PENDING filter found %v", got)
		}
		if kv := e.key("k"); kv.PendingApproval != nil {
			t.Fatalf("an expired approval is still pending for its key")
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")

		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": c.Token}), "CONFLICT", "")
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": c.Token}), "CONFLICT", "")
		wantError(t, e.anon.ErrorCode(executeMutation, executeVars(c.Token, "", "approve", nil)), "CONFLICT", "")
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
		if got := e.listStatuses(map[string]any{"status": "EXPIRED"}); len(got) != 1 {
			t.Fatalf("EXPIRED filter after the transition found %v", got)
		}
	})
}

func TestExpiryOnExecute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "ttlSeconds": 60, "initialValue": "waiting"})
		nonce := open(t, e.anon, c.Token).Nonce
		e.clock.Advance(61 * time.Second)
		wantError(t, e.anon.ErrorCode(executeMutation, executeVars(c.Token, nonce, "approve", nil)), "CONFLICT", "")
		wantError(t, e.anon.ErrorCode(executeMutation, executeVars(c.Token, nonce, "approve", nil)), "CONFLICT", "")
		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": c.Token}), "CONFLICT", "")
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
		if kv := e.key("k"); kv.Value == nil || *kv.Value != "waiting" {
			t.Fatalf("an expired approval changed its key: %+v", kv)
		}
	})
}

func TestNonceRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "ttlSeconds": 3600, "pin": "1234"})
		other := e.create(map[string]any{"keyPath": "other", "value": "yes"})
		nonce := open(t, e.anon, c.Token).Nonce
		foreign := open(t, e.anon, other.Token).Nonce
		raw, _ := base64.RawURLEncoding.DecodeString(nonce)
		raw[len(raw)-1] ^= 1
		tampered := base64.RawURLEncoding.EncodeToString(raw)
		forged := base64.RawURLEncoding.EncodeToString(make([]byte, len(raw)))

		for name, n := range map[string]string{"missing": "", "garbage": "not a nonce", "tampered": tampered,
			"forged": forged, "another link's": foreign, "the token itself": c.Token} {
			e := e.anon.ErrorCode(executeMutation, executeVars(c.Token, n, "approve", ptr("0000")))
			if e.Code() != "BAD_USER_INPUT" || e.Field() != "nonce" {
				t.Fatalf("%s nonce: %s %q", name, e.Code(), e.Field())
			}
		}
		// Nothing changed: no attempt counted even with a wrong PIN.
		if a := e.approval(c.Approval.ID); a.Status != "PENDING" || a.FailedPinAttempts != 0 {
			t.Fatalf("a refused nonce changed the approval: %+v", a)
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")

		// A nonce is valid for 15 minutes.
		e.clock.Advance(approval.NonceTTL - time.Minute)
		fresh := open(t, e.anon, c.Token).Nonce
		e.clock.Advance(2 * time.Minute)
		wantError(t, e.anon.ErrorCode(executeMutation, executeVars(c.Token, nonce, "approve", ptr("1234"))), "BAD_USER_INPUT", "nonce")
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")
		if got := execute(t, e.anon, c.Token, fresh, "approve", ptr("1234")); got.Status != "EXECUTED" {
			t.Fatalf("execution with a fresh nonce: %+v", got)
		}
	})
}

func TestUnknownActionChangesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "pin": "1234", "initialValue": "waiting"})
		nonce := open(t, e.anon, c.Token).Nonce
		for _, act := range []string{"reject", "", "APPROVE", "approve "} {
			// The action is checked before the PIN: a wrong one costs no attempt.
			wantError(t, e.anon.ErrorCode(executeMutation, executeVars(c.Token, nonce, act, ptr("9999"))), "BAD_USER_INPUT", "action")
		}
		if a := e.approval(c.Approval.ID); a.Status != "PENDING" || a.FailedPinAttempts != 0 {
			t.Fatalf("an unknown action changed the approval: %+v", a)
		}
		if kv := e.key("k"); *kv.Value != "waiting" {
			t.Fatalf("an unknown action changed the key: %+v", kv)
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")
	})
}

func TestWrongPINsLockTheLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "pin": "4321", "maxPinAttempts": 3})
		nonce := open(t, e.anon, c.Token).Nonce
		if got := execute(t, e.anon, c.Token, nonce, "approve", ptr("1234")); got.Status != "PENDING" || got.AttemptsRemaining != 2 || got.Action != nil {
			t.Fatalf("first wrong PIN: %+v", got)
		}
		// A missing PIN counts as a wrong one.
		if got := execute(t, e.anon, c.Token, nonce, "approve", nil); got.Status != "PENDING" || got.AttemptsRemaining != 1 {
			t.Fatalf("missing PIN: %+v", got)
		}
		if l := open(t, e.anon, c.Token); l.AttemptsRemaining != 1 {
			t.Fatalf("link shows %d attempts remaining, want 1", l.AttemptsRemaining)
		}
		if got := execute(t, e.anon, c.Token, nonce, "approve", ptr("43210")); got.Status != "LOCKED" || got.AttemptsRemaining != 0 {
			t.Fatalf("last wrong PIN: %+v", got)
		}
		// The right PIN is too late now.
		wantError(t, e.anon.ErrorCode(executeMutation, executeVars(c.Token, nonce, "approve", ptr("4321"))), "CONFLICT", "")
		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": c.Token}), "CONFLICT", "")

		a := e.approval(c.Approval.ID)
		if a.Status != "LOCKED" || a.FailedPinAttempts != 3 || a.ExecutedAt != nil {
			t.Fatalf("unexpected approval: %+v", a)
		}
		types := []string{"APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "PIN_FAILED", "TOKEN_LOCKED"}
		if len(a.Events) != len(types) {
			t.Fatalf("events: %+v", a.Events)
		}
		for i, ev := range a.Events {
			if ev.Type != types[i] {
				t.Fatalf("event %d is %s, want %s", i, ev.Type, types[i])
			}
			if ev.Type == "PIN_FAILED" && (ev.Attempts == nil || *ev.Attempts != i || ev.MaxAttempts == nil || *ev.MaxAttempts != 3) {
				t.Fatalf("PIN_FAILED %d: %+v", i, ev)
			}
		}
		if r := a.Events[4].Reason; r == nil || *r != "Too many failed PIN attempts" {
			t.Fatalf("TOKEN_LOCKED reason %v", r)
		}
	})
}

func TestRightPINExecutesAfterAWrongOne(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "pin": "000123456789"})
		nonce := open(t, e.anon, c.Token).Nonce
		execute(t, e.anon, c.Token, nonce, "approve", ptr("123456789"))
		if got := execute(t, e.anon, c.Token, nonce, "approve", ptr("000123456789")); got.Status != "EXECUTED" || got.AttemptsRemaining != 4 {
			t.Fatalf("right PIN: %+v", got)
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "APPROVAL_EXECUTED")
		// A PIN sent to an approval without one is ignored.
		plain := e.create(map[string]any{"keyPath": "plain", "value": "yes"})
		if got := execute(t, e.anon, plain.Token, open(t, e.anon, plain.Token).Nonce, "approve", ptr("1")); got.Status != "EXECUTED" {
			t.Fatalf("approval without PIN: %+v", got)
		}
	})
}

func TestLinkRateLimitPerClientIP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes", "pin": "1234", "maxPinAttempts": 10})

		opener := e.anon.FromIP(clientIP(1))
		var nonce string
		start := time.Now()
		for range approval.OpenBurst {
			nonce = open(t, opener, c.Token).Nonce
		}
		// Under load the burst takes a while, and a token comes back every
		// OpenEvery meanwhile: those may pass, no more.
		var limited testserver.GQLError
		for extra := int(time.Since(start) / approval.OpenEvery); ; extra-- {
			r := opener.Do(linkQuery, map[string]any{"t": c.Token})
			if len(r.Errors) > 0 {
				limited = r.Errors[0]
				break
			}
			if extra <= 0 {
				t.Fatalf("no limit after %d link loads in %s", approval.OpenBurst, time.Since(start))
			}
		}
		wantError(t, limited, "RATE_LIMITED", "")
		if s, _ := limited.Extensions["retryAfterSeconds"].(float64); s < 1 {
			t.Fatalf("retryAfterSeconds = %v", limited.Extensions["retryAfterSeconds"])
		}
		// Guessing tokens costs from the same budget.
		wantError(t, opener.ErrorCode(linkQuery, map[string]any{"t": "guess"}), "RATE_LIMITED", "")

		executor := e.anon.FromIP(clientIP(2))
		for range approval.ExecuteBurst {
			wantError(t, executor.ErrorCode(executeMutation, executeVars(c.Token, nonce, "nope", nil)), "BAD_USER_INPUT", "action")
		}
		wantError(t, executor.ErrorCode(executeMutation, executeVars(c.Token, nonce, "approve", ptr("1234"))), "RATE_LIMITED", "")

		// Another address has its own budget.
		if got := execute(t, e.anon.FromIP(clientIP(3)), c.Token, nonce, "approve", ptr("1234")); got.Status != "EXECUTED" {
			t.Fatalf("execution from another address: %+v", got)
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
	})
}

// A GET request never consumes a link: mutations are POST only.
func TestGETNeverExecutes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "k", "value": "yes"})
		nonce := open(t, e.anon, c.Token).Nonce
		q := url.Values{"query": {`mutation { executeApproval(token: "` + c.Token + `", nonce: "` + nonce + `", action: "approve") { status } }`}}
		resp, err := http.Get(e.srv.URL + "/query?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("GET mutation answered %d", resp.StatusCode)
		}
		if a := e.approval(c.Approval.ID); a.Status != "PENDING" {
			t.Fatalf("a GET changed the approval to %s", a.Status)
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED")
	})
}
