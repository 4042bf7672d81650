package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// An instance remembers an API key for auth.KeyCacheTTL: a key revoked by
// another instance on the same database (here: by SQL, behind the server's
// back) stops working within that time, and one revoked on this instance,
// or whose project this instance deleted, at once.
func TestRevokedAPIKeyStopsWithinTheCacheTTL(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("P")
		id, secret := alice.CreateAPIKey(pid, "WRITE")
		key := srv.Client(secret)
		const q = `query($p: ID!) { project(id: $p) { id } }`
		vars := map[string]any{"p": pid}
		key.MustDo(q, vars, nil) // read and remembered

		// Revoked elsewhere.
		err := srv.App.Store.DB(context.Background()).Exec("UPDATE api_keys SET revoked_at = ? WHERE id = ?", store.Now(), id).Error
		if err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		for {
			sent := time.Now()
			r := key.Do(q, vars)
			if len(r.Errors) > 0 {
				if c := r.Errors[0].Code(); c != "UNAUTHENTICATED" {
					t.Fatalf("revoked key: %s", c)
				}
				break
			}
			// A request sent after the bound must be refused.
			if since := sent.Sub(revoked); since > auth.KeyCacheTTL {
				t.Fatalf("a request sent %v after the revocation was served; the documented bound is %v", since, auth.KeyCacheTTL)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("refused %v after the revocation", time.Since(revoked).Round(time.Millisecond))

		// Revoked on this instance: refused at the next request, though
		// used just before.
		id2, secret2 := alice.CreateAPIKey(pid, "WRITE")
		key2 := srv.Client(secret2)
		key2.MustDo(q, vars, nil)
		alice.MustDo(`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": id2}, nil)
		if e := key2.ErrorCode(q, vars); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("key revoked on this instance: %s", e.Code())
		}

		// The project deleted on this instance: its keys are gone at once.
		pid3 := alice.CreateProject("Q")
		_, secret3 := alice.CreateAPIKey(pid3, "WRITE")
		key3 := srv.Client(secret3)
		key3.MustDo(q, map[string]any{"p": pid3}, nil)
		alice.MustDo(`mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": pid3}, nil)
		if e := key3.ErrorCode(`{ projects { id } }`, nil); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("key of a deleted project: %s", e.Code())
		}
	})
}
