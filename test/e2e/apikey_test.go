package e2e_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

type apiKeyView struct {
	ID, Name, Scope, Prefix string
	CreatedAt               time.Time
	LastUsedAt, RevokedAt   *time.Time
}

func listKeys(t *testing.T, u *testserver.User, pid string) map[string]apiKeyView {
	t.Helper()
	var out struct {
		Project struct{ APIKeys []apiKeyView }
	}
	u.MustDo(`query($id: ID!) { project(id: $id) { apiKeys { id name scope prefix createdAt lastUsedAt revokedAt } } }`, map[string]any{"id": pid}, &out)
	keys := map[string]apiKeyView{}
	for _, k := range out.Project.APIKeys {
		keys[k.ID] = k
	}
	return keys
}

func TestAPIKeySecretIsShownOnceAndStoredAsHash(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		for scope, prefix := range map[string]string{"WRITE": "otw_", "READ": "otr_"} {
			var out struct {
				CreateAPIKey struct {
					Secret string
					APIKey apiKeyView `json:"apiKey"`
				} `json:"createApiKey"`
			}
			alice.MustDo(`mutation($p: ID!, $s: ApiKeyScope!) { createApiKey(projectId: $p, input: {name: " deploy ", scope: $s}) { secret apiKey { id name scope prefix lastUsedAt revokedAt } } }`,
				map[string]any{"p": pid, "s": scope}, &out)
			secret, key := out.CreateAPIKey.Secret, out.CreateAPIKey.APIKey
			if !strings.HasPrefix(secret, prefix) || key.Prefix != secret[:8] || key.Scope != scope || key.Name != "deploy" {
				t.Fatalf("%s key: secret %q, key %+v", scope, secret, key)
			}
			if key.LastUsedAt != nil || key.RevokedAt != nil {
				t.Fatalf("a new key reads used or revoked: %+v", key)
			}
			random, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, prefix))
			if err != nil || len(random) < 16 {
				t.Fatalf("secret %q does not carry 128 random bits", secret)
			}

			// The stored row holds the SHA-256 of the secret, and the secret
			// nowhere.
			row := rawRow(t, srv, "api_keys", key.ID)
			sum := sha256.Sum256([]byte(secret))
			if row["secret_hash"] != hex.EncodeToString(sum[:]) {
				t.Fatalf("secret_hash = %q, want the SHA-256 hex of the secret", row["secret_hash"])
			}
			for col, v := range row {
				if strings.Contains(v, secret[len(prefix):]) {
					t.Fatalf("column %s holds the secret", col)
				}
			}
		}
		for _, k := range listKeys(t, alice, pid) {
			if k.Prefix == "" || len(k.Prefix) != 8 {
				t.Fatalf("listed key %+v", k)
			}
		}
	})
}

// rawRow reads one row of table by id, every column as text.
func rawRow(t *testing.T, srv *testserver.Server, table, id string) map[string]string {
	t.Helper()
	rows, err := srv.App.Store.SQL().Query("SELECT * FROM "+table+" WHERE id = "+placeholder(srv.Dialect), id)
	storetest.Must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	storetest.Must(t, err)
	if !rows.Next() {
		t.Fatalf("no %s row %s", table, id)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	storetest.Must(t, rows.Scan(ptrs...))
	out := map[string]string{}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out
}

func TestAPIKeyActsForItsProjectOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		other := alice.CreateProject("Other")
		for scope, role := range map[string]string{"WRITE": "MEMBER", "READ": "VIEWER"} {
			_, secret := alice.CreateAPIKey(pid, scope)
			key := srv.Client(secret)
			var out struct {
				Projects []struct{ ID, MyRole string }
				Other    *struct{ ID string }
			}
			key.MustDo(`query($o: ID!) { projects { id myRole } other: project(id: $o) { id } }`, map[string]any{"o": other}, &out)
			if len(out.Projects) != 1 || out.Projects[0].ID != pid || out.Projects[0].MyRole != role || out.Other != nil {
				t.Fatalf("%s key sees %+v", scope, out)
			}
			// Keys are not users.
			if e := key.ErrorCode(meQuery, nil); e.Code() != "FORBIDDEN" {
				t.Errorf("%s key asking for me: %s", scope, e.Code())
			}
			if e := key.ErrorCode(`mutation { createProject(input: {name: "mine"}) { id } }`, nil); e.Code() != "FORBIDDEN" {
				t.Errorf("%s key creating a project: %s", scope, e.Code())
			}
			if e := key.ErrorCode(`mutation($p: ID!) { renameProject(id: $p, name: "x") { id } }`, map[string]any{"p": other}); e.Code() != "NOT_FOUND" {
				t.Errorf("%s key renaming another project of the same owner: %s", scope, e.Code())
			}
		}
	})
}

func TestRevokedAPIKeyIsUnauthenticated(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		id, secret := alice.CreateAPIKey(pid, "WRITE")
		key := srv.Client(secret)
		key.MustDo(`{ projects { id } }`, nil, nil)

		revoke := `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`
		var first, again struct {
			RevokeAPIKey struct{ RevokedAt *time.Time } `json:"revokeApiKey"`
		}
		alice.MustDo(revoke, map[string]any{"id": id}, &first)
		if first.RevokeAPIKey.RevokedAt == nil {
			t.Fatal("revokedAt not set")
		}
		if e := key.ErrorCode(`{ projects { id } }`, nil); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("revoked key: %s", e.Code())
		}
		// Revoking again changes nothing.
		alice.MustDo(revoke, map[string]any{"id": id}, &again)
		if !again.RevokeAPIKey.RevokedAt.Equal(*first.RevokeAPIKey.RevokedAt) {
			t.Fatalf("revokedAt moved from %v to %v", first.RevokeAPIKey.RevokedAt, again.RevokeAPIKey.RevokedAt)
		}
		if k := listKeys(t, alice, pid)[id]; k.RevokedAt == nil {
			t.Fatal("the list shows the key active")
		}
		// A key that never existed reads the same as a revoked one.
		if e := srv.Client("otw_"+strings.Repeat("A", 32)).ErrorCode(`{ projects { id } }`, nil); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("unknown key: %s", e.Code())
		}
		if e := alice.ErrorCode(revoke, map[string]any{"id": "00000000-0000-7000-8000-000000000000"}); e.Code() != "NOT_FOUND" {
			t.Fatalf("revoking an unknown key: %s", e.Code())
		}
	})
}

func TestAPIKeyLastUsedAtMovesAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		id, secret := alice.CreateAPIKey(pid, "READ")
		use := func() { srv.Client(secret).MustDo(`{ projects { id } }`, nil, nil) }
		lastUsed := func() *time.Time { return listKeys(t, alice, pid)[id].LastUsedAt }
		// The server stamps a key's use in the background, after the
		// request: wait until the stamp shows.
		stamped := func(since time.Time) *time.Time {
			deadline := time.Now().Add(testserver.ReadTimeout)
			for {
				at := lastUsed()
				if at != nil && at.After(since) || time.Now().After(deadline) {
					return at
				}
				time.Sleep(10 * time.Millisecond)
			}
		}

		before := time.Now().Add(-time.Second)
		use()
		first := stamped(before)
		if first == nil || first.Before(before) {
			t.Fatalf("lastUsedAt after first use: %v", first)
		}
		use()
		if again := lastUsed(); !again.Equal(*first) {
			t.Fatalf("lastUsedAt moved within the minute: %v -> %v", first, again)
		}

		// A minute and more later it moves again.
		twoMinutesAgo := store.Now().Add(-2 * time.Minute)
		storetest.Must(t, srv.App.Store.DB(context.Background()).Exec("UPDATE api_keys SET last_used_at = ? WHERE id = ?", twoMinutesAgo, id).Error)
		// The server reads the row again once what it remembers of the key
		// is older than the cache's TTL.
		time.Sleep(auth.KeyCacheTTL)
		use()
		if moved := stamped(twoMinutesAgo.Add(time.Minute)); moved == nil || !moved.After(twoMinutesAgo.Add(time.Minute)) {
			t.Fatalf("lastUsedAt after a pause: %v, want about now", moved)
		}
	})
}
