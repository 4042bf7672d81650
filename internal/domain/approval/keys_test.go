package approval_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

const setKeyMutation = `mutation($p: ID!, $k: String!, $v: String!) { setKey(projectId: $p, path: $k, value: $v) { path value updatedAt pendingApproval { id } } }`

func TestSetAndReadKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		var out struct{ SetKey keyOut }
		e.write.MustDo(setKeyMutation, map[string]any{"p": e.pid, "k": "myapp/deploy", "v": "approved"}, &out)
		if out.SetKey.Path != "myapp/deploy" || *out.SetKey.Value != "approved" || out.SetKey.UpdatedAt.IsZero() {
			t.Fatalf("unexpected key: %+v", out.SetKey)
		}
		e.owner.MustDo(setKeyMutation, map[string]any{"p": e.pid, "k": "myapp/deploy", "v": ""}, &out)
		if kv := e.key("myapp/deploy"); kv.Value == nil || *kv.Value != "" || kv.UpdatedAt.Before(out.SetKey.UpdatedAt) {
			t.Fatalf("overwritten key: %+v", kv)
		}
		var missing struct{ Project struct{ Key *keyOut } }
		e.write.MustDo(`query($p: ID!) { project(id: $p) { key(path: "never/set") { path } } }`, map[string]any{"p": e.pid}, &missing)
		if missing.Project.Key != nil {
			t.Fatalf("a key never set reads %+v", missing.Project.Key)
		}
		wantError(t, e.write.ErrorCode(`query($p: ID!) { project(id: $p) { key(path: "/bad") { path } } }`, map[string]any{"p": e.pid}), "BAD_USER_INPUT", "path")
	})
}

func TestKeyValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path, value string
		field       string
	}{
		{strings.Repeat("a", 200), "v", ""},
		{strings.Repeat("a", 201), "v", "path"},
		{"a/" + strings.Repeat("b", 198), "v", ""},
		{"", "v", "path"},
		{"/a", "v", "path"},
		{"a/", "v", "path"},
		{"a//b", "v", "path"},
		{"a b", "v", "path"},
		{"a\\b", "v", "path"},
		{"a?b", "v", "path"},
		{"A.b_c-d/0", "v", ""},
		{".", "v", "path"},
		{"..", "v", "path"},
		{"a/./b", "v", "path"},
		{"a/../b", "v", "path"},
		{"../a", "v", "path"},
		{"a/..", "v", "path"},
		{"a/.", "v", "path"},
		{"./a", "v", "path"},
		{"...", "v", ""},
		{".a/b./..c/d..", "v", ""},
		{"k", strings.Repeat("v", 1000), ""},
		{"k", strings.Repeat("v", 1001), "value"},
		{"k", strings.Repeat("ü", 1000), ""},
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		for _, tc := range cases {
			r := e.write.Do(setKeyMutation, map[string]any{"p": e.pid, "k": tc.path, "v": tc.value})
			switch {
			case tc.field == "" && len(r.Errors) > 0:
				t.Errorf("path %q value of %d: refused: %+v", tc.path, len(tc.value), r.Errors)
			case tc.field != "" && len(r.Errors) == 0:
				t.Errorf("path %q value of %d: accepted", tc.path, len(tc.value))
			case tc.field != "" && (r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != tc.field):
				t.Errorf("path %q: %s %q, want BAD_USER_INPUT %q", tc.path, r.Errors[0].Code(), r.Errors[0].Field(), tc.field)
			}
		}
		// Reading refuses the same paths.
		for _, path := range []string{"a/../b", "a/./b", ".."} {
			r := e.write.Do(`query($p: ID!, $k: String!) { project(id: $p) { key(path: $k) { value } } }`, map[string]any{"p": e.pid, "k": path})
			if len(r.Errors) == 0 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "path" {
				t.Errorf("reading %q: %+v, want BAD_USER_INPUT on path", path, r.Errors)
			}
		}
	})
}

func TestWhoMaySetKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		_, readKey := e.owner.CreateAPIKey(e.pid, "READ")
		reader := e.srv.Client(readKey)
		viewer, stranger := e.srv.SignUp("Viewer"), e.srv.SignUp("Stranger")
		e.owner.MustDo(`mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: VIEWER) { role } }`,
			map[string]any{"p": e.pid, "e": viewer.Email}, nil)
		vars := map[string]any{"p": e.pid, "k": "k", "v": "v"}
		wantError(t, reader.ErrorCode(setKeyMutation, vars), "FORBIDDEN", "")
		wantError(t, viewer.ErrorCode(setKeyMutation, vars), "FORBIDDEN", "")
		wantError(t, stranger.ErrorCode(setKeyMutation, vars), "NOT_FOUND", "")
		wantError(t, e.anon.ErrorCode(setKeyMutation, vars), "UNAUTHENTICATED", "")
		e.write.MustDo(setKeyMutation, vars, nil)
		// A READ key reads values: that is what scripts poll.
		var out struct{ Project struct{ Key keyOut } }
		reader.MustDo(`query($p: ID!) { project(id: $p) { key(path: "k") { value } } }`, map[string]any{"p": e.pid}, &out)
		if *out.Project.Key.Value != "v" {
			t.Fatalf("READ key reads %+v", out.Project.Key)
		}
	})
}

func TestKeysListPrefixAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		paths := []string{"svc/a", "svc/b", "svc/c", "svc_d", "web/a"}
		for _, p := range []string{"web/a", "svc/c", "svc_d", "svc/a", "svc/b"} {
			e.write.MustDo(setKeyMutation, map[string]any{"p": e.pid, "k": p, "v": "x"}, nil)
		}
		pending := e.create(map[string]any{"keyPath": "svc/b", "value": "yes"})

		const q = `query($p: ID!, $prefix: String, $first: Int, $after: String) { project(id: $p) { keys(prefix: $prefix, first: $first, after: $after) {
			edges { cursor node { path pendingApproval { id } } } pageInfo { hasNextPage endCursor } } } }`
		list := func(prefix *string, first int) ([]string, []string) {
			var got, pendingIDs []string
			var after *string
			for {
				var out struct {
					Project struct {
						Keys struct {
							Edges []struct {
								Node struct {
									Path            string
									PendingApproval *struct{ ID string }
								}
							}
							PageInfo pageInfo
						}
					}
				}
				e.owner.MustDo(q, map[string]any{"p": e.pid, "prefix": prefix, "first": first, "after": after}, &out)
				for _, edge := range out.Project.Keys.Edges {
					got = append(got, edge.Node.Path)
					if edge.Node.PendingApproval != nil {
						pendingIDs = append(pendingIDs, edge.Node.Path+"="+edge.Node.PendingApproval.ID)
					}
				}
				if !out.Project.Keys.PageInfo.HasNextPage {
					return got, pendingIDs
				}
				after = out.Project.Keys.PageInfo.EndCursor
			}
		}
		all, pendingKeys := list(nil, 2)
		if !slices.Equal(all, paths) {
			t.Fatalf("keys %v, want %v", all, paths)
		}
		if !slices.Equal(pendingKeys, []string{"svc/b=" + pending.Approval.ID}) {
			t.Fatalf("pending approvals %v", pendingKeys)
		}
		if got, _ := list(ptr("svc/"), 1); !slices.Equal(got, paths[:3]) {
			t.Fatalf("prefix svc/: %v", got)
		}
		if got, _ := list(ptr("svc_"), 10); !slices.Equal(got, []string{"svc_d"}) {
			t.Fatalf("prefix svc_: %v", got)
		}
		wantError(t, e.owner.ErrorCode(q, map[string]any{"p": e.pid, "prefix": strings.Repeat("a", 201)}), "BAD_USER_INPUT", "prefix")
		wantError(t, e.owner.ErrorCode(q, map[string]any{"p": e.pid, "after": "!"}), "BAD_USER_INPUT", "after")
	})
}

// A page of keys loads the pending approvals of all its keys at once; what
// it shows must be what key(path) shows for each: the newest approval that
// can still be executed.
func TestKeysListShowsEachKeysNewestPendingApproval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		e.create(map[string]any{"keyPath": "a", "value": "yes"})
		newest := e.create(map[string]any{"keyPath": "a", "value": "yes"})
		e.create(map[string]any{"keyPath": "b", "value": "yes", "ttlSeconds": 10})
		executed := e.create(map[string]any{"keyPath": "c", "value": "yes"})
		e.anon.MustDo(executeMutation, executeVars(executed.Token, open(t, e.anon, executed.Token).Nonce, "approve", nil), nil)
		e.clock.Advance(11 * time.Second) // b's approval reads EXPIRED
		e.write.MustDo(setKeyMutation, map[string]any{"p": e.pid, "k": "d", "v": "x"}, nil)

		var out struct {
			Project struct {
				Keys struct {
					Edges []struct{ Node keyOut }
				}
			}
		}
		e.owner.MustDo(`query($p: ID!) { project(id: $p) { keys { edges { node { path value updatedAt pendingApproval { id } } } } } }`,
			map[string]any{"p": e.pid}, &out)
		var pending []string
		for _, edge := range out.Project.Keys.Edges {
			kv := edge.Node
			if one := e.key(kv.Path); (one.PendingApproval == nil) != (kv.PendingApproval == nil) ||
				(one.PendingApproval != nil && one.PendingApproval.ID != kv.PendingApproval.ID) {
				t.Fatalf("key %s: listed %+v, read alone %+v", kv.Path, kv.PendingApproval, one.PendingApproval)
			}
			if kv.PendingApproval != nil {
				pending = append(pending, kv.Path+"="+kv.PendingApproval.ID)
			}
		}
		if len(out.Project.Keys.Edges) != 4 || !slices.Equal(pending, []string{"a=" + newest.Approval.ID}) {
			t.Fatalf("%d keys, pending approvals %v", len(out.Project.Keys.Edges), pending)
		}
	})
}
