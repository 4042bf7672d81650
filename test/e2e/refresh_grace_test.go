package e2e_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// ageSpentRefreshTokens moves the first use of every spent refresh token
// back beyond the grace window, as if that much time had passed.
func ageSpentRefreshTokens(t *testing.T, srv *testserver.Server) {
	t.Helper()
	err := srv.App.Store.DB(context.Background()).Model(&auth.RefreshToken{}).Where("used_at IS NOT NULL").
		Update("used_at", store.Now().Add(-auth.RefreshGrace-time.Minute)).Error
	if err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentRefreshesKeepTheSession sends refreshSession with one
// refresh token from two clients at the same instant, over HTTP, as two
// tabs of a dashboard do: both get a working session of the same family,
// and neither signs the user out. Using a spent token after the grace
// window still revokes the whole session.
func TestConcurrentRefreshesKeepTheSession(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		tabs := []*testserver.Client{srv.Client("").FromIP("127.0.9.1"), srv.Client("").FromIP("127.0.9.2")}

		token := alice.RefreshToken
		var all []authPayload
		for round := range 5 {
			var (
				start = make(chan struct{})
				wg    sync.WaitGroup
				got   [2]*testserver.Response
			)
			for i, tab := range tabs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got[i] = tab.Do(refreshMutation, map[string]any{"t": token})
				}()
			}
			close(start)
			wg.Wait()
			var pair [2]authPayload
			for i, resp := range got {
				if len(resp.Errors) > 0 {
					t.Fatalf("round %d, tab %d: concurrent refresh refused: %+v", round, i, resp.Errors)
				}
				var out struct{ RefreshSession authPayload }
				if err := json.Unmarshal(resp.Data, &out); err != nil {
					t.Fatal(err)
				}
				pair[i] = out.RefreshSession
				if pair[i].User.ID != alice.ID || pair[i].RefreshToken == token {
					t.Fatalf("round %d, tab %d: %+v", round, i, pair[i])
				}
			}
			if pair[0].RefreshToken == pair[1].RefreshToken {
				t.Fatal("both tabs got the same refresh token")
			}
			// Both sessions work: their access tokens read, and the refresh
			// tokens refresh (the next round uses one of them).
			for _, p := range pair {
				srv.Client(p.AccessToken).MustDo(meQuery, nil, nil)
			}
			all = append(all, pair[:]...)
			token = pair[round%2].RefreshToken
		}
		// The other tab's last token still refreshes too.
		var last struct{ RefreshSession authPayload }
		srv.Client("").MustDo(refreshMutation, map[string]any{"t": all[len(all)-1].RefreshToken}, &last)

		// Once the window has passed, a spent token is a replay: the whole
		// session goes, the newest tokens included.
		ageSpentRefreshTokens(t, srv)
		anon := srv.Client("")
		if e := anon.ErrorCode(refreshMutation, map[string]any{"t": alice.RefreshToken}); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("replay after the window: %s, want UNAUTHENTICATED", e.Code())
		}
		if e := anon.ErrorCode(refreshMutation, map[string]any{"t": last.RefreshSession.RefreshToken}); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("newest token after a replay: %s, want UNAUTHENTICATED", e.Code())
		}
	})
}
