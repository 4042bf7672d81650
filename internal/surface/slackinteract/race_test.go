package slackinteract_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// Slack clicks and link submissions race for one approval: exactly one of
// them decides it, with one APPROVAL_EXECUTED event; every other click is
// told the approval was already decided and sees the message replaced
// with the winner's outcome, and every other link submission is answered
// 409.
func TestSlackClicksRaceLinkSubmissions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, link := e.create(map[string]any{"keyPath": "myapp/deploy", "info": "Deploy?", "actions": deployActions})
		const clicks, links = 30, 10 // links: the per-IP burst of submissions

		clickStatus := make([]int, clicks)
		linkStatus := make([]int, links)
		errs := make(chan error, clicks+links)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range clicks {
			payload := click(e.block(id), "deploy", fmt.Sprintf("URACER%02d", i), fmt.Sprintf("racer%02d", i), e.responseURL(i), "")
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status, err := e.send(payload)
				clickStatus[i] = status
				if err != nil {
					errs <- err
				}
			}()
		}
		for i := range links {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status, err := e.srv.ExecuteLink(link, "deploy", "")
				linkStatus[i] = status
				if err != nil {
					errs <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		linkWins := 0
		for i, s := range linkStatus {
			switch s {
			case http.StatusOK:
				linkWins++
			case http.StatusConflict:
			default:
				t.Fatalf("link submission %d answered %d", i, s)
			}
		}
		for i, s := range clickStatus {
			if s != http.StatusOK {
				t.Fatalf("click %d answered %d", i, s)
			}
		}
		a := e.approval(id)
		if a.Status != "EXECUTED" || a.Decision == nil || a.Decision.Action.Key != "deploy" {
			t.Fatalf("after the race: %+v", a)
		}
		if len(a.Events) != 2 || a.Events[0].Type != "APPROVAL_CREATED" || a.Events[1].Type != "APPROVAL_EXECUTED" {
			t.Fatalf("events: %+v", a.Events)
		}
		by := a.Decision.DecidedBy
		winner, who := -1, "by the link"
		if by.Via == "SLACK" {
			if by.SlackUserID == nil || by.SlackUserName == nil {
				t.Fatalf("decided in Slack by nobody: %+v", by)
			}
			fmt.Sscanf(*by.SlackUserID, "URACER%d", &winner)
			who = "by @" + *by.SlackUserName
		}
		if (winner >= 0) == (linkWins == 1) || linkWins > 1 || (by.Via != "SLACK" && by.Via != "LINK") {
			t.Fatalf("winners: %d link submissions and Slack click %d (decided via %s)", linkWins, winner, by.Via)
		}

		// The winning click gets its message replaced; every losing one
		// also gets an answer only its clicker sees, saying why.
		want := 2 * clicks
		if winner >= 0 {
			want--
		}
		e.waitReplies(want)
		for i := range clicks {
			var ephemeral, replaced int
			for _, r := range e.replies(e.responseURL(i)) {
				body := string(r.Body)
				switch {
				case strings.Contains(body, `"response_type":"ephemeral"`):
					if !strings.Contains(body, "already been executed") || strings.Contains(body, `"replace_original":true`) {
						t.Fatalf("click %d: ephemeral answer %s", i, body)
					}
					ephemeral++
				case strings.Contains(body, `"replace_original":true`):
					if !strings.Contains(body, "✅ Deploy — "+who+", ") || strings.Contains(body, `"type":"actions"`) {
						t.Fatalf("click %d: replacement %s", i, body)
					}
					replaced++
				default:
					t.Fatalf("click %d: reply %s", i, body)
				}
			}
			if wantEphemeral := map[bool]int{true: 0, false: 1}[i == winner]; ephemeral != wantEphemeral || replaced != 1 {
				t.Fatalf("click %d (winner %d): %d ephemeral answers and %d replacements", i, winner, ephemeral, replaced)
			}
		}
	})
}
