package approval_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// A nonce names its approval, so that on PostgreSQL an execution whose
// checks all pass is one statement (executeByNonce); every other outcome
// reads the approval first, as a nonce without an id always does. These
// tests hold both paths to the same rows and the same answers.

// columns reads the one row of table that where selects, as column →
// value, less the columns in skip.
func (e *svcEnv) columns(table string, skip []string, where string, args ...any) map[string]any {
	e.t.Helper()
	var rows []map[string]any
	storetest.Must(e.t, e.st.DB(context.Background()).Raw("SELECT * FROM "+table+" WHERE "+where, args...).Scan(&rows).Error)
	if len(rows) != 1 {
		e.t.Fatalf("%d rows of %s where %s %v, want 1", len(rows), table, where, args)
	}
	for _, c := range skip {
		delete(rows[0], c)
	}
	return rows[0]
}

// executed are the rows an execution of approval id, of the key path,
// wrote, less the columns that differ between two approvals.
func (e *svcEnv) executed(id, keyPath string) map[string]map[string]any {
	return map[string]map[string]any{
		"approvals":  e.columns("approvals", []string{"id", "key_path", "token_hash", "pin_hash"}, "id = ?", id),
		"key_values": e.columns("key_values", []string{"path"}, "project_id = ? AND path = ?", e.pid, keyPath),
		"events": e.columns("events", []string{"id", "xid", "approval_id", "key_path"},
			"approval_id = ? AND type = ?", id, "APPROVAL_EXECUTED"),
	}
}

// codeAndField is codeOf with the field of an error that names one.
func codeAndField(err error) string {
	if ae, ok := apperr.As(err); ok && ae.Field != "" {
		return codeOf(err) + " " + ae.Field
	}
	return codeOf(err)
}

func sameExecution(a, b *approval.Execution) bool {
	return a.Status == b.Status && a.AttemptsRemaining == b.AttemptsRemaining &&
		a.Action != nil && b.Action != nil && *a.Action == *b.Action &&
		a.ExecutedAt != nil && b.ExecutedAt != nil && a.ExecutedAt.Equal(*b.ExecutedAt) &&
		a.Comment != nil && b.Comment != nil && *a.Comment == *b.Comment
}

// Two approvals alike but for their key path, executed at the same time,
// one by a nonce that names it, the other by a nonce from before nonces
// did: the same approval, key and event rows, column by column, and the
// same answer.
func TestOneStatementExecutionWritesWhatTheReadingPathWrites(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newSvcEnv(t, d)
		// Values that JSON escapes, so that both paths must decode them alike.
		in := func(path string) approval.CreateInput {
			return approval.CreateInput{KeyPath: path, InitialValue: str("waiting"), Pin: str("2468"), MaxPinAttempts: num(4),
				Info: str("deploy"), RefID: str("build-7"), Actions: []approval.ActionInput{
					{Key: "ship", Value: `<go & "now"> é` + "\u2028" + `\n`, Label: str("Ship it"), Style: ptr(approval.StylePrimary)},
					{Key: "hold", Value: "no"}}}
		}
		fast, slow := e.create(in("deploy/fast")), e.create(in("deploy/slow"))
		link, err := e.svc.Open(e.anon(), fast.Token)
		storetest.Must(t, err)
		oldNonce := e.svc.NonceWithoutID(slow.Token, e.clock.Now())
		// A wrong PIN first, so that the attempts left are not the maximum.
		for _, c := range []struct{ token, nonce string }{{fast.Token, link.Nonce}, {slow.Token, oldNonce}} {
			if x, err := e.svc.Execute(e.anon(), c.token, c.nonce, "ship", "1111"); err != nil || x.Status != approval.Pending {
				t.Fatalf("wrong PIN: %+v %v", x, err)
			}
		}

		comment := str("looks good")
		x, ok, err := e.svc.ExecuteByNonce(e.anon(), fast.Token, link.Nonce, "ship", "2468", comment)
		storetest.Must(t, err)
		if ok != (d == store.Postgres) {
			t.Fatalf("one-statement execution on %s: ok = %v", d, ok)
		}
		if !ok {
			x, err = e.svc.ExecuteCommented(e.anon(), fast.Token, link.Nonce, "ship", "2468", comment)
			storetest.Must(t, err)
		}
		y, err := e.svc.ExecuteCommented(e.anon(), slow.Token, oldNonce, "ship", "2468", comment)
		storetest.Must(t, err)
		if !sameExecution(x, y) || x.Status != approval.Executed || x.AttemptsRemaining != 3 || x.Action.Label != "Ship it" {
			t.Fatalf("answers differ or are wrong:\n one statement %+v\n reading first %+v", x, y)
		}

		got, want := e.executed(fast.Approval.ID, "deploy/fast"), e.executed(slow.Approval.ID, "deploy/slow")
		for table := range want {
			if g, w := fmt.Sprint(got[table]), fmt.Sprint(want[table]); g != w {
				t.Errorf("%s differ:\n one statement %s\n reading first %s", table, g, w)
			}
		}
		if v := got["key_values"]["value"]; v != in("").Actions[0].Value {
			t.Errorf("key set to %q, want the action's value %q", v, in("").Actions[0].Value)
		}
		e.wantEvents(fast.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "APPROVAL_EXECUTED")
		e.wantEvents(slow.Approval.ID, "APPROVAL_CREATED", "PIN_FAILED", "APPROVAL_EXECUTED")
	})
}

// Every refusal writes nothing in the one statement and is answered, by
// the path that reads first, as before nonces named the approval.
func TestOneStatementExecutionLeavesEveryRefusalToTheReadingPath(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newSvcEnv(t, d)
		pinned := approval.CreateInput{KeyPath: "k", Value: str("go"), Pin: str("2468"), MaxPinAttempts: num(2), TTLSeconds: num(60)}
		type attempt struct {
			action, pin string
			code        string          // of the error, "ok" for none, with its field if any
			status      approval.Status // of the answer, when ok
			left        int
		}
		for _, tc := range []struct {
			name     string
			in       approval.CreateInput
			before   func(c *approval.Created, nonce string) // what happened to the approval first
			nonce    func(c *approval.Created, nonce string) string
			attempts []attempt
			events   []string
		}{
			{name: "wrong PINs, then locked", in: pinned,
				attempts: []attempt{{action: "approve", pin: "1111", code: "ok", status: approval.Pending, left: 1},
					{action: "approve", pin: "1111", code: "ok", status: approval.Locked},
					{action: "approve", pin: "2468", code: "CONFLICT"}},
				events: []string{"APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "TOKEN_LOCKED"}},
			{name: "missing PIN", in: pinned,
				attempts: []attempt{{action: "approve", code: "ok", status: approval.Pending, left: 1}},
				events:   []string{"APPROVAL_CREATED", "PIN_FAILED"}},
			{name: "unknown action", in: pinned,
				attempts: []attempt{{action: "reject", pin: "2468", code: "BAD_USER_INPUT action"}, {action: "APPROVE", pin: "1111", code: "BAD_USER_INPUT action"}},
				events:   []string{"APPROVAL_CREATED"}},
			{name: "expired", in: pinned,
				before:   func(*approval.Created, string) { e.clock.Advance(61 * time.Second) },
				attempts: []attempt{{action: "approve", pin: "2468", code: "CONFLICT"}, {action: "approve", pin: "2468", code: "CONFLICT"}},
				events:   []string{"APPROVAL_CREATED", "APPROVAL_EXPIRED"}},
			{name: "already executed", in: pinned,
				before: func(c *approval.Created, nonce string) {
					_, err := e.svc.Execute(e.anon(), c.Token, nonce, "approve", "2468")
					storetest.Must(e.t, err)
				},
				attempts: []attempt{{action: "approve", pin: "2468", code: "CONFLICT"}},
				events:   []string{"APPROVAL_CREATED", "APPROVAL_EXECUTED"}},
			{name: "invalidated", in: pinned,
				before: func(c *approval.Created, _ string) {
					_, err := e.svc.Invalidate(e.write, c.Approval.ID, nil)
					storetest.Must(e.t, err)
				},
				attempts: []attempt{{action: "approve", pin: "2468", code: "CONFLICT"}},
				events:   []string{"APPROVAL_CREATED", "APPROVAL_INVALIDATED"}},
			{name: "another link's nonce", in: pinned,
				nonce: func(*approval.Created, string) string {
					other := e.create(approval.CreateInput{KeyPath: "other", Value: str("go")})
					link, err := e.svc.Open(e.anon(), other.Token)
					storetest.Must(e.t, err)
					return link.Nonce
				},
				attempts: []attempt{{action: "approve", pin: "2468", code: "BAD_USER_INPUT nonce"}},
				events:   []string{"APPROVAL_CREATED"}},
			{name: "a nonce whose id was altered", in: pinned,
				nonce: func(_ *approval.Created, nonce string) string {
					return reshapeNonce(e.t, nonce, func(raw []byte) []byte {
						raw[8+3] ^= 1 // in the id, after the issue time
						return raw
					})
				},
				attempts: []attempt{{action: "approve", pin: "2468", code: "BAD_USER_INPUT nonce"}},
				events:   []string{"APPROVAL_CREATED"}},
			{name: "a nonce cut before its id", in: pinned,
				nonce: func(_ *approval.Created, nonce string) string {
					return reshapeNonce(e.t, nonce, func(raw []byte) []byte {
						return append(raw[:8:8], raw[len(raw)-32:]...)
					})
				},
				attempts: []attempt{{action: "approve", pin: "2468", code: "BAD_USER_INPUT nonce"}},
				events:   []string{"APPROVAL_CREATED"}},
			{name: "link not allowed", in: approval.CreateInput{KeyPath: "k", Value: str("go"), AllowLink: ptr(false)},
				attempts: []attempt{{action: "approve", code: "FORBIDDEN"}},
				events:   []string{"APPROVAL_CREATED"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				c := e.create(tc.in)
				nonce := e.svc.NonceNaming(c.Token, c.Approval.ID, e.clock.Now())
				if tc.before != nil {
					tc.before(c, nonce)
				}
				if tc.nonce != nil {
					nonce = tc.nonce(c, nonce)
				}
				for i, a := range tc.attempts {
					before := e.columns("approvals", nil, "id = ?", c.Approval.ID)
					if _, ok, err := e.svc.ExecuteByNonce(e.anon(), c.Token, nonce, a.action, a.pin, nil); ok || err != nil {
						t.Fatalf("attempt %d: the one statement answered ok %v, %v", i+1, ok, err)
					}
					if after := e.columns("approvals", nil, "id = ?", c.Approval.ID); fmt.Sprint(after) != fmt.Sprint(before) {
						t.Fatalf("attempt %d: the one statement changed the approval:\n%v\n%v", i+1, before, after)
					}
					x, err := e.svc.Execute(e.anon(), c.Token, nonce, a.action, a.pin)
					if got := codeAndField(err); got != a.code {
						t.Fatalf("attempt %d: %s (%v), want %s", i+1, got, err, a.code)
					}
					if err == nil && (x.Status != a.status || x.AttemptsRemaining != a.left || x.Action != nil) {
						t.Fatalf("attempt %d: %+v, want %s with %d left", i+1, x, a.status, a.left)
					}
				}
				e.wantEvents(c.Approval.ID, tc.events...)
			})
		}
	})
}

// A nonce from before nonces named the approval still executes, through
// the reading path; a nonce of one link that names another approval (which
// only the server can make) executes its own link's approval and leaves the
// named one alone.
func TestNoncesWithoutTheirApprovalStillExecute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newSvcEnv(t, d)
		old := e.create(approval.CreateInput{KeyPath: "old", Value: str("go"), Pin: str("2468")})
		nonce := e.svc.NonceWithoutID(old.Token, e.clock.Now())
		if _, ok, err := e.svc.ExecuteByNonce(e.anon(), old.Token, nonce, "approve", "2468", nil); ok || err != nil {
			t.Fatalf("a nonce without an id took the one statement: %v %v", ok, err)
		}
		if x, err := e.svc.Execute(e.anon(), old.Token, nonce, "approve", "2468"); err != nil || x.Status != approval.Executed {
			t.Fatalf("old nonce: %+v %v", x, err)
		}
		e.wantEvents(old.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")

		mine := e.create(approval.CreateInput{KeyPath: "mine", Value: str("go")})
		named := e.create(approval.CreateInput{KeyPath: "named", Value: str("go")})
		crossed := e.svc.NonceNaming(mine.Token, named.Approval.ID, e.clock.Now())
		if x, err := e.svc.Execute(e.anon(), mine.Token, crossed, "approve", ""); err != nil || x.Status != approval.Executed {
			t.Fatalf("nonce naming another approval: %+v %v", x, err)
		}
		e.wantEvents(mine.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
		e.wantEvents(named.Approval.ID, "APPROVAL_CREATED")
		if st := e.status(named.Approval.ID); st != approval.Pending {
			t.Fatalf("the named approval is %s", st)
		}
	})
}

// Right and wrong PINs at once, each with a nonce that names the approval
// or one without: exactly one execution, one APPROVAL_EXECUTED, and a
// PIN_FAILED for each wrong PIN answered as counted.
func TestConcurrentExecutionsByNonceSucceedOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newSvcEnv(t, d)
		c := e.create(approval.CreateInput{KeyPath: "race", InitialValue: str("waiting"), Pin: str("8642"), MaxPinAttempts: num(10),
			Actions: []approval.ActionInput{{Key: "approve", Value: "approved"}, {Key: "reject", Value: "rejected"}}})
		link, err := e.svc.Open(e.anon(), c.Token)
		storetest.Must(t, err)
		nonces := []string{link.Nonce, e.svc.NonceWithoutID(c.Token, e.clock.Now())}
		const n = 24
		ctxs := make([]context.Context, n)
		for i := range ctxs {
			ctxs[i] = e.anon()
		}
		type outcome struct {
			x   *approval.Execution
			err error
		}
		outcomes := make([]outcome, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				pin := "8642"
				if i%4 == 3 {
					pin = "0000"
				}
				<-start
				x, err := e.svc.Execute(ctxs[i], c.Token, nonces[i%2], "approve", pin)
				outcomes[i] = outcome{x, err}
			})
		}
		close(start)
		wg.Wait()
		executed, counted := 0, 0
		for i, o := range outcomes {
			switch {
			case o.err != nil:
				if st, ok := approval.ClosedStatus(o.err); !ok || st != approval.Executed {
					t.Fatalf("execution %d: %v, want CONFLICT of an EXECUTED approval", i, o.err)
				}
			case o.x.Status == approval.Executed:
				executed++
			case o.x.Status == approval.Pending && i%4 == 3:
				counted++
			default:
				t.Fatalf("execution %d: %+v", i, o.x)
			}
		}
		if executed != 1 {
			t.Fatalf("%d executions succeeded, want 1", executed)
		}
		want := []string{"APPROVAL_CREATED"}
		for range counted {
			want = append(want, "PIN_FAILED")
		}
		e.wantEvents(c.Approval.ID, append(want, "APPROVAL_EXECUTED")...)
		a, err := e.svc.Get(e.owner, c.Approval.ID)
		storetest.Must(t, err)
		kv := e.columns("key_values", nil, "project_id = ? AND path = ?", e.pid, "race")
		if a.Status != approval.Executed || a.FailedPinAttempts != counted || kv["value"] != "approved" {
			t.Fatalf("after the race: %+v, key %v", a, kv)
		}
	})
}

// reshapeNonce is nonce with its bytes changed by change, as a client
// that tampers with it would send it.
func reshapeNonce(t *testing.T, nonce string, change func([]byte) []byte) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	storetest.Must(t, err)
	return base64.RawURLEncoding.EncodeToString(change(raw))
}
