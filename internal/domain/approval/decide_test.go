package approval_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const decideMutation = `mutation($id: ID!, $a: String!, $c: String) { decideApproval(id: $id, action: $a, comment: $c) {
	id status executedAction { key } decision { action { key label } comment decidedAt decidedBy { via user { id } slackUserId slackUserName } } } }`

type decisionOut struct {
	Action    struct{ Key, Label string }
	Comment   *string
	DecidedAt string
	DecidedBy struct {
		Via           string
		User          *struct{ ID string }
		SlackUserID   *string
		SlackUserName *string
	}
}

// decisionOf reads an approval's decision and its APPROVAL_EXECUTED
// event's, which must be the same.
func (e *env) decisionOf(id string) *decisionOut {
	e.t.Helper()
	const q = `query($id: ID!) { approval(id: $id) {
		decision { action { key label } comment decidedAt decidedBy { via user { id } slackUserId slackUserName } }
		events { type decision { action { key } comment decidedBy { via user { id } } } } } }`
	var out struct {
		Approval struct {
			Decision *decisionOut
			Events   []struct {
				Type     string
				Decision *decisionOut
			}
		}
	}
	e.owner.MustDo(q, map[string]any{"id": id}, &out)
	for _, ev := range out.Approval.Events {
		if (ev.Type == "APPROVAL_EXECUTED") != (ev.Decision != nil) {
			e.t.Fatalf("event %s has decision %+v", ev.Type, ev.Decision)
		}
		if ev.Decision != nil && (out.Approval.Decision == nil || ev.Decision.DecidedBy.Via != out.Approval.Decision.DecidedBy.Via ||
			ev.Decision.Action.Key != out.Approval.Decision.Action.Key) {
			e.t.Fatalf("event decision %+v differs from the approval's %+v", ev.Decision, out.Approval.Decision)
		}
	}
	return out.Approval.Decision
}

// restDecision reads GET /v1/approvals/{id} with the WRITE key and returns
// its decision object.
func (e *env) restDecision(id string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/approvals/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+e.write.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET approval: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct{ Decision map[string]any }
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET approval: %d %s", resp.StatusCode, raw)
	}
	return out.Decision
}

func TestDecisionsRecordWhoDecided(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		actions := []map[string]any{{"key": "deploy", "value": "yes", "label": "Deploy", "style": "PRIMARY"}, {"key": "cancel", "value": "no"}}

		// Through the link, with a comment: via LINK, nobody known.
		c := e.create(map[string]any{"keyPath": "d/link", "actions": actions})
		l := open(t, e.anon, c.Token)
		var ex struct{ ExecuteApproval execution }
		e.anon.MustDo(`mutation($t: String!, $n: String!) { executeApproval(token: $t, nonce: $n, action: "deploy", comment: "ship it") { status } }`,
			map[string]any{"t": c.Token, "n": l.Nonce}, &ex)
		got := e.decisionOf(c.Approval.ID)
		if got == nil || got.Action.Key != "deploy" || got.Action.Label != "Deploy" || got.Comment == nil || *got.Comment != "ship it" ||
			got.DecidedBy.Via != "LINK" || got.DecidedBy.User != nil {
			t.Fatalf("link decision: %+v", got)
		}
		rd := e.restDecision(c.Approval.ID)
		by, _ := rd["decided_by"].(map[string]any)
		if rd["action"] != "deploy" || rd["comment"] != "ship it" || by["via"] != "link" || by["user_id"] != nil {
			t.Fatalf("REST decision: %v", rd)
		}

		// From the dashboard, by a member.
		member := e.srv.SignUp("Member")
		e.owner.AddMember(e.pid, member.Email, "MEMBER")
		c = e.create(map[string]any{"keyPath": "d/dash", "actions": actions})
		var dec struct{ DecideApproval struct{ Status string } }
		member.MustDo(decideMutation, map[string]any{"id": c.Approval.ID, "a": "cancel", "c": "not today"}, &dec)
		got = e.decisionOf(c.Approval.ID)
		if dec.DecideApproval.Status != "EXECUTED" || got == nil || got.DecidedBy.Via != "DASHBOARD" || got.DecidedBy.User == nil ||
			got.DecidedBy.User.ID != member.ID || *got.Comment != "not today" {
			t.Fatalf("dashboard decision: %+v", got)
		}
		if v := e.key("d/dash").Value; v == nil || *v != "no" {
			t.Fatalf("key after the dashboard decision: %v", v)
		}
		if by, _ := e.restDecision(c.Approval.ID)["decided_by"].(map[string]any); by["via"] != "dashboard" || by["user_id"] != member.ID {
			t.Fatalf("REST decider: %v", by)
		}
		// Decided once: the link and the dashboard now answer CONFLICT.
		wantError(t, member.ErrorCode(decideMutation, map[string]any{"id": c.Approval.ID, "a": "deploy"}), "CONFLICT", "")
		wantEvents(e, c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
	})
}

func wantEvents(e *env, id string, want ...string) { e.t.Helper(); e.wantEvents(id, want...) }

func TestDecideApprovalAuthorization(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		member, viewer, other := e.srv.SignUp("Member"), e.srv.SignUp("Viewer"), e.srv.SignUp("Other")
		e.owner.AddMember(e.pid, member.Email, "MEMBER")
		e.owner.AddMember(e.pid, viewer.Email, "VIEWER")
		pending := func(input map[string]any) string {
			input["keyPath"], input["value"] = "d/auth", "yes"
			return e.create(input).Approval.ID
		}
		id := pending(map[string]any{})
		vars := map[string]any{"id": id, "a": "approve"}
		wantError(t, viewer.ErrorCode(decideMutation, vars), "FORBIDDEN", "")
		wantError(t, e.write.ErrorCode(decideMutation, vars), "FORBIDDEN", "")
		wantError(t, other.ErrorCode(decideMutation, vars), "NOT_FOUND", "")
		wantError(t, e.anon.ErrorCode(decideMutation, vars), "UNAUTHENTICATED", "")
		wantError(t, member.ErrorCode(decideMutation, map[string]any{"id": id, "a": "nope"}), "BAD_USER_INPUT", "action")
		wantError(t, member.ErrorCode(decideMutation, map[string]any{"id": id, "a": "approve", "c": "a\x00b"}), "BAD_USER_INPUT", "comment")
		wantError(t, member.ErrorCode(decideMutation, map[string]any{"id": id, "a": "approve", "c": strings.Repeat("x", 501)}), "BAD_USER_INPUT", "comment")
		if a := e.approval(id); a.Status != "PENDING" || len(a.Events) != 1 {
			t.Fatalf("refused decisions changed the approval: %+v", a)
		}

		// Named deciders: only they, by id or e-mail; a viewer or a stranger cannot be named.
		named := pending(map[string]any{"deciders": []string{strings.ToUpper(member.Email)}})
		wantError(t, e.owner.ErrorCode(decideMutation, map[string]any{"id": named, "a": "approve"}), "FORBIDDEN", "")
		member.MustDo(decideMutation, map[string]any{"id": named, "a": "approve"}, nil)
		for _, bad := range []string{viewer.Email, other.ID, "nobody@example.com"} {
			r := e.write.Do(createMutation, map[string]any{"p": e.pid, "i": map[string]any{"keyPath": "d/x", "value": "v", "deciders": []string{bad}}})
			if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "deciders" {
				t.Fatalf("decider %q: %+v", bad, r.Errors)
			}
		}

		// A PIN is asked only by the link.
		withPIN := pending(map[string]any{"pin": "1234"})
		wantError(t, member.ErrorCode(decideMutation, map[string]any{"id": withPIN, "a": "approve"}), "FORBIDDEN", "")

		// No self-approval: the creator (here the owner) is refused once the project says so.
		var own struct{ CreateApproval created }
		e.owner.MustDo(createMutation, map[string]any{"p": e.pid, "i": map[string]any{"keyPath": "d/self", "value": "v"}}, &own)
		selfID := own.CreateApproval.Approval.ID
		wantError(t, member.ErrorCode(`mutation($p: ID!) { setNoSelfApproval(projectId: $p, enabled: true) { id } }`, map[string]any{"p": e.pid}), "FORBIDDEN", "")
		var set struct{ SetNoSelfApproval struct{ NoSelfApproval bool } }
		e.owner.MustDo(`mutation($p: ID!) { setNoSelfApproval(projectId: $p, enabled: true) { noSelfApproval } }`, map[string]any{"p": e.pid}, &set)
		if !set.SetNoSelfApproval.NoSelfApproval {
			t.Fatal("noSelfApproval not set")
		}
		wantError(t, e.owner.ErrorCode(decideMutation, map[string]any{"id": selfID, "a": "approve"}), "FORBIDDEN", "")
		member.MustDo(decideMutation, map[string]any{"id": selfID, "a": "approve"}, nil)

		// allowLink false: the link refuses, the dashboard decides.
		var noLink struct{ CreateApproval created }
		e.write.MustDo(createMutation, map[string]any{"p": e.pid, "i": map[string]any{"keyPath": "d/nolink", "value": "v", "allowLink": false}}, &noLink)
		wantError(t, e.anon.ErrorCode(linkQuery, map[string]any{"t": noLink.CreateApproval.Token}), "FORBIDDEN", "")
		if status, err := e.srv.ExecuteLink(noLink.CreateApproval.URL, "approve", ""); err != nil || status != http.StatusForbidden {
			t.Fatalf("page of a link that may not decide: %d %v", status, err)
		}
		member.MustDo(decideMutation, map[string]any{"id": noLink.CreateApproval.Approval.ID, "a": "approve"}, nil)
	})
}

// A dashboard decision racing link submissions: exactly one wins, once.
func TestDecideRacesTheLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		c := e.create(map[string]any{"keyPath": "d/race", "value": "yes"})
		l := open(t, e.anon, c.Token)
		const n = 30
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var r *testserver.Response
				if i%2 == 0 {
					r = e.owner.Do(decideMutation, map[string]any{"id": c.Approval.ID, "a": "approve"})
				} else {
					r = e.anon.FromIP(clientIP(i)).Do(executeMutation, executeVars(c.Token, l.Nonce, "approve", nil))
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case len(r.Errors) == 0:
					wins++
				case r.Errors[0].Code() != "CONFLICT":
					t.Errorf("loser: %+v", r.Errors)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d winners", wins)
		}
		e.wantEvents(c.Approval.ID, "APPROVAL_CREATED", "APPROVAL_EXECUTED")
	})
}
