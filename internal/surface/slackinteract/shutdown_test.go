package slackinteract_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The replies to a click are posted after Slack has its answer; a
// shutdown waits for them before the store closes: the replacement, which
// reads the approval after the first reply, is still posted.
func TestCloseWaitsForRepliesUnderWay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, link := e.create(map[string]any{"keyPath": "myapp/deploy", "actions": deployActions})
		if status, err := e.srv.ExecuteLink(link, "deploy", ""); err != nil || status != http.StatusOK {
			t.Fatalf("execute through the link: %d %v", status, err)
		}
		release := make(chan struct{})
		e.fake.RespondTo(e.responseURL(0), func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, "ok")
		}, slacktest.OK())

		// A late click: the answer saying so is under way when the shutdown begins.
		if status, err := e.send(click(e.block(id), "deploy", "UALICE", "alice", e.responseURL(0), "")); err != nil || status != http.StatusOK {
			t.Fatalf("click: %d %v", status, err)
		}
		e.waitReplies(1)
		closed := make(chan error, 1)
		go func() { closed <- e.srv.App.Close() }()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) with a reply under way", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return once the reply was answered")
		}
		replies := e.replies(e.responseURL(0))
		if len(replies) != 2 || !strings.Contains(string(replies[0].Body), `"ephemeral"`) ||
			!strings.Contains(string(replies[1].Body), "✅ Deploy — by the link, ") {
			t.Fatalf("replies: %d", len(replies))
		}
		if logs := e.srv.Logs.String(); strings.Contains(logs, "database is closed") || strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "abandoned") {
			t.Fatalf("the shutdown logged: %s", logs)
		}
	})
}
