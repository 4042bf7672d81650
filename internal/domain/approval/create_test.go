package approval_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

func TestCreateSimpleFormAndDefaults(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "myapp/deploy", "value": "approved", "refId": "run-42"})
		a := c.Approval
		if a.Status != "PENDING" || a.KeyPath != "myapp/deploy" || a.PinRequired || a.MaxPinAttempts != 5 ||
			a.FailedPinAttempts != 0 || a.RefID == nil || *a.RefID != "run-42" || a.Info != nil ||
			len(a.Actions) != 1 || a.Actions[0] != (action{"approve", "approved", "Approve", "PRIMARY"}) {
			t.Fatalf("unexpected approval: %+v", a)
		}
		if ttl := a.ExpiresAt.Sub(a.CreatedAt); ttl != 600*time.Second {
			t.Fatalf("default TTL %v, want 10 minutes", ttl)
		}
		if c.URL != e.srv.URL+"/a/"+c.Token {
			t.Fatalf("url %q is not the public URL + /a/ + token %q", c.URL, c.Token)
		}
		if len(c.Token) < 43 || strings.Trim(c.Token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("token %q is not at least 256 bits of URL-safe base64", c.Token)
		}
		// The key exists for its pending approval, unset until executed.
		kv := e.key("myapp/deploy")
		if kv.Value != nil || kv.PendingApproval == nil || kv.PendingApproval.ID != a.ID {
			t.Fatalf("key of a new approval: %+v", kv)
		}
		e.wantEvents(a.ID, "APPROVAL_CREATED")
	})
}

func TestTokenAndPINAreStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		one := e.create(map[string]any{"keyPath": "a", "value": "yes", "pin": "482913"})
		two := e.create(map[string]any{"keyPath": "b", "value": "yes", "pin": "482913"})
		type stored struct {
			TokenHash string
			PinHash   string
			Dump      string
		}
		read := func(id string) stored {
			var s stored
			db := e.srv.App.Store.DB(context.Background())
			if err := db.Raw("SELECT token_hash, pin_hash FROM approvals WHERE id = ?", id).Scan(&s).Error; err != nil {
				t.Fatal(err)
			}
			var row map[string]any
			if err := db.Raw("SELECT * FROM approvals WHERE id = ?", id).Scan(&row).Error; err != nil {
				t.Fatal(err)
			}
			for _, v := range row {
				s.Dump += " " + toString(v)
			}
			return s
		}
		s1, s2 := read(one.Approval.ID), read(two.Approval.ID)
		if s1.TokenHash != auth.HashToken(one.Token) {
			t.Fatalf("token_hash is not the SHA-256 of the token")
		}
		if strings.Contains(s1.Dump, one.Token) || strings.Contains(s1.Dump, "482913") {
			t.Fatalf("the row holds the token or the PIN: %s", s1.Dump)
		}
		if len(s1.PinHash) != 64 || s1.PinHash == s2.PinHash {
			t.Fatalf("PIN hashes %q and %q: want a keyed hash per approval", s1.PinHash, s2.PinHash)
		}
		if strings.Contains(e.srv.Logs.String(), one.Token) {
			t.Fatalf("the token was logged")
		}
	})
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func TestCreateFullFormSetsInitialValueInTheSameTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		e.write.MustDo(`mutation($p: ID!) { setKey(projectId: $p, path: "env/prod", value: "old") { path } }`, map[string]any{"p": e.pid}, nil)
		c := e.create(map[string]any{"keyPath": "env/prod", "initialValue": "waiting", "ttlSeconds": 10, "info": "Ship it?",
			"actions": []map[string]any{{"key": "ship", "value": "go", "label": "Ship"}, {"key": "hold", "value": "stop", "style": "DANGER"}}})
		if kv := e.key("env/prod"); kv.Value == nil || *kv.Value != "waiting" || kv.PendingApproval == nil {
			t.Fatalf("key after create with initialValue: %+v", kv)
		}
		want := []action{{"ship", "go", "Ship", "DEFAULT"}, {"hold", "stop", "hold", "DANGER"}}
		if a := c.Approval; len(a.Actions) != 2 || a.Actions[0] != want[0] || a.Actions[1] != want[1] || *a.Info != "Ship it?" {
			t.Fatalf("unexpected approval: %+v", a)
		}
		// A failed create leaves the key alone.
		wantError(t, e.write.ErrorCode(createMutation, map[string]any{"p": e.pid, "i": map[string]any{
			"keyPath": "env/prod", "initialValue": "changed", "value": "yes", "ttlSeconds": 5}}), "BAD_USER_INPUT", "ttlSeconds")
		if kv := e.key("env/prod"); *kv.Value != "waiting" {
			t.Fatalf("a refused create changed the key to %q", *kv.Value)
		}
	})
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	actions := func(as ...map[string]any) []map[string]any { return append([]map[string]any{}, as...) }
	act := func(key string) map[string]any { return map[string]any{"key": key, "value": "v"} }
	ok := func(field string, v any) map[string]any {
		return map[string]any{"keyPath": "k", "value": "v", field: v}
	}
	cases := []struct {
		name  string
		input map[string]any
		field string // "" when the input is valid
	}{
		{"path of 200", map[string]any{"keyPath": long(200), "value": "v"}, ""},
		{"path of 201", map[string]any{"keyPath": long(201), "value": "v"}, "keyPath"},
		{"empty path", map[string]any{"keyPath": "", "value": "v"}, "keyPath"},
		{"path with all allowed characters", map[string]any{"keyPath": "Az09._-/x", "value": "v"}, ""},
		{"leading slash", map[string]any{"keyPath": "/a", "value": "v"}, "keyPath"},
		{"trailing slash", map[string]any{"keyPath": "a/", "value": "v"}, "keyPath"},
		{"double slash", map[string]any{"keyPath": "a//b", "value": "v"}, "keyPath"},
		{"space in path", map[string]any{"keyPath": "a b", "value": "v"}, "keyPath"},
		{"non-ASCII path", map[string]any{"keyPath": "café", "value": "v"}, "keyPath"},
		{"dot segment", map[string]any{"keyPath": "deploy/./prod", "value": "v"}, "keyPath"},
		{"dot-dot segment", map[string]any{"keyPath": "deploy/../prod", "value": "v"}, "keyPath"},
		{"dot-dot first", map[string]any{"keyPath": "../prod", "value": "v"}, "keyPath"},
		{"dot-dot last", map[string]any{"keyPath": "deploy/..", "value": "v"}, "keyPath"},
		{"only a dot", map[string]any{"keyPath": ".", "value": "v"}, "keyPath"},
		{"dots within segments", map[string]any{"keyPath": "v1.2/...", "value": "v"}, ""},
		{"value of 1000", map[string]any{"keyPath": "k", "value": long(1000)}, ""},
		{"value of 1001", map[string]any{"keyPath": "k", "value": long(1001)}, "value"},
		{"value of 1000 multibyte", map[string]any{"keyPath": "k", "value": strings.Repeat("é", 1000)}, ""},
		{"neither value nor actions", map[string]any{"keyPath": "k"}, "value"},
		{"both value and actions", map[string]any{"keyPath": "k", "value": "v", "actions": actions(act("a"))}, "actions"},
		{"no actions", map[string]any{"keyPath": "k", "actions": actions()}, "actions"},
		{"three actions", map[string]any{"keyPath": "k", "actions": actions(act("a"), act("b"), act("c"))}, ""},
		{"four actions", map[string]any{"keyPath": "k", "actions": actions(act("a"), act("b"), act("c"), act("d"))}, "actions"},
		{"duplicate action keys", map[string]any{"keyPath": "k", "actions": actions(act("a"), act("a"))}, "actions"},
		{"empty action key", map[string]any{"keyPath": "k", "actions": actions(act(""))}, "actions"},
		{"action key of 40", map[string]any{"keyPath": "k", "actions": actions(act(long(40)))}, ""},
		{"action key of 41", map[string]any{"keyPath": "k", "actions": actions(act(long(41)))}, "actions"},
		{"action value of 1000", map[string]any{"keyPath": "k", "actions": actions(map[string]any{"key": "a", "value": long(1000)})}, ""},
		{"action value of 1001", map[string]any{"keyPath": "k", "actions": actions(map[string]any{"key": "a", "value": long(1001)})}, "actions"},
		{"label of 40", map[string]any{"keyPath": "k", "actions": actions(map[string]any{"key": "a", "value": "v", "label": long(40)})}, ""},
		{"label of 41", map[string]any{"keyPath": "k", "actions": actions(map[string]any{"key": "a", "value": "v", "label": long(41)})}, "actions"},
		{"ttl of 9", ok("ttlSeconds", 9), "ttlSeconds"},
		{"ttl of 10", ok("ttlSeconds", 10), ""},
		{"ttl of 30 days", ok("ttlSeconds", 30*24*3600), ""},
		{"ttl over 30 days", ok("ttlSeconds", 30*24*3600+1), "ttlSeconds"},
		{"negative ttl", ok("ttlSeconds", -600), "ttlSeconds"},
		{"info of 2000", ok("info", long(2000)), ""},
		{"info of 2001", ok("info", long(2001)), "info"},
		{"refId of 200", ok("refId", long(200)), ""},
		{"refId of 201", ok("refId", long(201)), "refId"},
		{"initialValue of 1000", ok("initialValue", long(1000)), ""},
		{"initialValue of 1001", ok("initialValue", long(1001)), "initialValue"},
		{"pin of 3 digits", ok("pin", "123"), "pin"},
		{"pin of 4 digits", ok("pin", "1234"), ""},
		{"pin of 12 digits", ok("pin", "123456789012"), ""},
		{"pin of 13 digits", ok("pin", "1234567890123"), "pin"},
		{"pin with a letter", ok("pin", "12a4"), "pin"},
		{"pin with a space", ok("pin", "12 34"), "pin"},
		{"pin of non-ASCII digits", ok("pin", "١٢٣٤"), "pin"},
		{"empty pin", ok("pin", ""), "pin"},
		{"0 PIN attempts", ok("maxPinAttempts", 0), "maxPinAttempts"},
		{"1 PIN attempt", ok("maxPinAttempts", 1), ""},
		{"10 PIN attempts", ok("maxPinAttempts", 10), ""},
		{"11 PIN attempts", ok("maxPinAttempts", 11), "maxPinAttempts"},
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		for _, tc := range cases {
			r := e.write.Do(createMutation, map[string]any{"p": e.pid, "i": tc.input})
			switch {
			case tc.field == "" && len(r.Errors) > 0:
				t.Errorf("%s: refused: %+v", tc.name, r.Errors)
			case tc.field != "" && len(r.Errors) == 0:
				t.Errorf("%s: accepted", tc.name)
			case tc.field != "" && (r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != tc.field):
				t.Errorf("%s: %s field %q, want BAD_USER_INPUT field %q", tc.name, r.Errors[0].Code(), r.Errors[0].Field(), tc.field)
			}
		}
		// Only the valid inputs made approvals and events.
		valid := 0
		for _, tc := range cases {
			if tc.field == "" {
				valid++
			}
		}
		if got := len(e.listStatuses(nil)); got != valid {
			t.Fatalf("%d approvals exist, want %d", got, valid)
		}
		if got := e.countEvents(); got != valid {
			t.Fatalf("%d events exist, want %d", got, valid)
		}
	})
}

func TestWhoMayCreateAndInvalidate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		reader := e.srv.Client(readKey)
		member, viewer, stranger := e.srv.SignUp("Member"), e.srv.SignUp("Viewer"), e.srv.SignUp("Stranger")
		for _, m := range []struct {
			u    string
			role string
		}{{member.Email, "MEMBER"}, {viewer.Email, "VIEWER"}} {
			e.owner.MustDo(`mutation($p: ID!, $e: String!, $r: Role!) { addProjectMember(projectId: $p, email: $e, role: $r) { role } }`,
				map[string]any{"p": e.pid, "e": m.u, "r": m.role}, nil)
		}
		input := map[string]any{"p": e.pid, "i": map[string]any{"keyPath": "k", "value": "yes"}}
		wantError(t, reader.ErrorCode(createMutation, input), "FORBIDDEN", "")
		wantError(t, viewer.ErrorCode(createMutation, input), "FORBIDDEN", "")
		wantError(t, stranger.ErrorCode(createMutation, input), "NOT_FOUND", "")
		wantError(t, e.anon.ErrorCode(createMutation, input), "UNAUTHENTICATED", "")
		var out struct{ CreateApproval created }
		member.MustDo(createMutation, input, &out)
		id := out.CreateApproval.Approval.ID

		const invalidate = `mutation($id: ID!, $r: String) { invalidateApproval(id: $id, reason: $r) { id status invalidatedAt invalidationReason } }`
		wantError(t, reader.ErrorCode(invalidate, map[string]any{"id": id}), "FORBIDDEN", "")
		wantError(t, viewer.ErrorCode(invalidate, map[string]any{"id": id}), "FORBIDDEN", "")
		wantError(t, stranger.ErrorCode(invalidate, map[string]any{"id": id}), "NOT_FOUND", "")
		wantError(t, e.write.ErrorCode(invalidate, map[string]any{"id": "0190e0f4-0000-7000-8000-000000000000"}), "NOT_FOUND", "")
		wantError(t, e.write.ErrorCode(invalidate, map[string]any{"id": id, "r": strings.Repeat("x", 1001)}), "BAD_USER_INPUT", "reason")
		e.wantEvents(id, "APPROVAL_CREATED")

		// Readers see it; a stranger does not, like a project they cannot see.
		var seen struct{ Approval *struct{ ID string } }
		reader.MustDo(`query($id: ID!) { approval(id: $id) { id } }`, map[string]any{"id": id}, &seen)
		if seen.Approval == nil {
			t.Fatalf("a READ key cannot read its project's approval")
		}
		stranger.MustDo(`query($id: ID!) { approval(id: $id) { id } }`, map[string]any{"id": id}, &seen)
		if seen.Approval != nil {
			t.Fatalf("a stranger reads another tenant's approval")
		}

		var inv struct {
			InvalidateApproval struct {
				Status             string
				InvalidatedAt      *time.Time
				InvalidationReason *string
			}
		}
		member.MustDo(invalidate, map[string]any{"id": id, "r": "superseded"}, &inv)
		if got := inv.InvalidateApproval; got.Status != "INVALIDATED" || got.InvalidatedAt == nil || *got.InvalidationReason != "superseded" {
			t.Fatalf("unexpected invalidation: %+v", got)
		}
		wantError(t, member.ErrorCode(invalidate, map[string]any{"id": id}), "CONFLICT", "")
		a := e.approval(id)
		if len(a.Events) != 2 || a.Events[1].Type != "APPROVAL_INVALIDATED" || *a.Events[1].Reason != "superseded" {
			t.Fatalf("events: %+v", a.Events)
		}
		if kv := e.key("k"); kv.PendingApproval != nil {
			t.Fatalf("an invalidated approval is still pending for its key")
		}

		// Without a reason, and on approvals that are no longer pending.
		e.write.MustDo(invalidate, map[string]any{"id": e.create(map[string]any{"keyPath": "k", "value": "y"}).Approval.ID}, nil)
		executed := e.create(map[string]any{"keyPath": "k", "value": "y"})
		execute(t, e.anon, executed.Token, open(t, e.anon, executed.Token).Nonce, "approve", nil)
		wantError(t, e.write.ErrorCode(invalidate, map[string]any{"id": executed.Approval.ID}), "CONFLICT", "")
		expired := e.create(map[string]any{"keyPath": "k", "value": "y", "ttlSeconds": 10})
		e.clock.Advance(10 * time.Second)
		wantError(t, e.write.ErrorCode(invalidate, map[string]any{"id": expired.Approval.ID}), "CONFLICT", "")
		e.wantEvents(executed.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
		e.wantEvents(expired.Approval.ID, "APPROVAL_CREATED")
	})
}
