package notify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// hookReceiver is a webhook receiver that answers each request with what
// answer says and records, in arrival order, the event and approval of
// every request.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []hookRequest
	answer func(eventID int64, attempt int) (status int, retryAfter string)
	tries  map[int64]int
}

type hookRequest struct {
	EventID    int64
	ApprovalID string
	Status     int
}

func newHookReceiver(t *testing.T, answer func(eventID int64, attempt int) (int, string)) *hookReceiver {
	h := &hookReceiver{answer: answer, tries: map[int64]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			ID       string
			Approval struct{ ID string }
		}
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id, _ := strconv.ParseInt(p.ID, 10, 64)
		h.mu.Lock()
		h.tries[id]++
		status, retryAfter := h.answer(id, h.tries[id])
		h.got = append(h.got, hookRequest{EventID: id, ApprovalID: p.Approval.ID, Status: status})
		h.mu.Unlock()
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// failFirst answers the first attempt of a message with fail when it
// matches, and every other request as Slack does for a good one.
func failFirst(match func(text string) slacktest.Behavior) slacktest.Behavior {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Text string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &p)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		mu.Lock()
		first := !seen[p.Text]
		seen[p.Text] = true
		mu.Unlock()
		if first {
			if b := match(p.Text); b != nil {
				b(w, r)
				return
			}
		}
		slacktest.OK()(w, r)
	}
}

var (
	keyOf     = regexp.MustCompile(`Key: (\S+)`)
	attemptOf = regexp.MustCompile(`Attempts: (\d) of`)
)

// stepOf is a message's place among its approval's events: 0 for its
// creation, n for the n-th failed PIN, 5 for its invalidation.
func stepOf(text string) (key string, step int) {
	if m := keyOf.FindStringSubmatch(text); m != nil {
		key = m[1]
	}
	switch {
	case strings.HasPrefix(text, "🔔"):
		return key, 0
	case strings.HasPrefix(text, "❌"):
		return key, 5
	}
	if m := attemptOf.FindStringSubmatch(text); m != nil {
		n, _ := strconv.Atoi(m[1])
		return key, n
	}
	return key, -1
}

// inOrder reports whether steps, the messages of one approval in the
// order they arrived (retries repeating a step), are 0…5 in order with
// nothing later arriving before an earlier one was through.
func inOrder(steps []int) bool {
	return slices.Equal(slices.Compact(slices.Clone(steps)), []int{0, 1, 2, 3, 4, 5})
}

// Three approvals, offline/0, 1 and 2, each with six events in a row, go
// to a Slack channel and a webhook endpoint that keep each approval's
// order, while both fail the first attempt of some messages (5xx, and 429
// with Retry-After), and to a Slack channel whose ordering is NONE. On the
// ordered channels each approval's messages arrive in the order of its
// events, a retried or rate-limited one holding back the later ones; the
// approvals interleave. On the unordered one, a message rate limited for
// a while is passed by the later ones of its approval.
func TestOrderPerApprovalSurvivesRetries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		hooks := newHookReceiver(t, func(id int64, attempt int) (int, string) {
			switch {
			case attempt > 1:
				return http.StatusNoContent, ""
			case id%3 == 0:
				return http.StatusServiceUnavailable, ""
			case id%3 == 1:
				return http.StatusTooManyRequests, "1"
			}
			return http.StatusNoContent, ""
		})
		e := newEnv(t, d, func(c *config.Config) { c.WebhookAllowedPrefixes = []string{hooks.URL + "/"} })
		all := []string{"APPROVAL_CREATED", "PIN_FAILED", "APPROVAL_INVALIDATED"}
		ordered, orderedURL := e.channel("ordered", all...)
		var none struct{ AddSlackChannel struct{ ID, Ordering string } }
		noneURL := e.fake.WebhookURL("T0001", "BNONE", "N0neS3cret")
		e.owner.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id ordering } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "unordered", "webhookUrl": noneURL, "events": all, "ordering": "NONE"}}, &none)
		if none.AddSlackChannel.Ordering != "NONE" {
			t.Fatalf("unordered channel: %+v", none)
		}
		var hook struct {
			AddWebhookEndpoint struct{ Endpoint struct{ ID, Ordering string } }
		}
		e.owner.MustDo(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { endpoint { id ordering } } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "hook", "url": hooks.URL + "/hook", "events": all}}, &hook)
		if hook.AddWebhookEndpoint.Endpoint.Ordering != "PER_APPROVAL" {
			t.Fatalf("endpoint: %+v", hook)
		}

		e.fake.RespondTo(orderedURL, failFirst(func(text string) slacktest.Behavior {
			_, step := stepOf(text)
			switch {
			case step == 1 || strings.Contains(text, "offline/1") && step == 0:
				return slacktest.ServerError()
			case step == 3:
				return slacktest.RateLimited(time.Second)
			}
			return nil
		}))
		// offline/0's creation is rate limited on the unordered channel
		// until all of offline/0's later messages have arrived there.
		var laterMu sync.Mutex
		later := 0
		e.fake.RespondTo(noneURL, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			var p struct{ Text string }
			_ = json.Unmarshal(body, &p)
			key, step := stepOf(p.Text)
			laterMu.Lock()
			if key == "offline/0" && step > 0 {
				later++
			}
			hold := key == "offline/0" && step == 0 && later < 5
			laterMu.Unlock()
			if hold {
				slacktest.RateLimited(time.Second)(w, r)
				return
			}
			slacktest.OK()(w, r)
		})

		keys := []string{"offline/0", "offline/1", "offline/2"}
		ids := map[string]string{}
		for _, k := range keys {
			ids[k] = e.createApproval(map[string]any{"keyPath": k, "value": "x"}).ID
		}
		for step := 1; step <= 5; step++ {
			for _, k := range keys {
				id := ids[k]
				if step == 5 {
					e.record(event.ApprovalInvalidated, k, func(ev *event.Event) { ev.ApprovalID, ev.Reason = &id, ptr("superseded") })
					continue
				}
				e.record(event.PinFailed, k, func(ev *event.Event) { ev.ApprovalID, ev.Attempts, ev.MaxAttempts = &id, ptr(step), ptr(9) })
			}
		}

		for _, ch := range []string{ordered, none.AddSlackChannel.ID} {
			for _, del := range e.settled(ch, 18, 30*time.Second) {
				if del.Status != "DELIVERED" {
					t.Errorf("delivery %+v", del)
				}
			}
		}
		var hookReqs []hookRequest
		eventually(t, 30*time.Second, func() bool {
			hookReqs = hooks.requests()
			ok := 0
			for _, r := range hookReqs {
				if r.Status < 300 {
					ok++
				}
			}
			return ok == 18
		}, func() string { return fmt.Sprintf("webhook requests %+v", hookReqs) })

		// The ordered Slack channel: each approval in order; the approvals
		// interleave.
		steps := map[string][]int{}
		var firsts []string
		for _, text := range texts(e.fake, orderedURL) {
			key, step := stepOf(text)
			if step == 0 && !slices.Contains(firsts, key) {
				firsts = append(firsts, key)
			}
			steps[key] = append(steps[key], step)
		}
		for _, k := range keys {
			if !inOrder(steps[k]) {
				t.Errorf("ordered channel: %s's messages arrived as steps %v", k, steps[k])
			}
		}
		t.Logf("ordered Slack channel: approvals first heard of in the order %v", firsts)

		// The webhook endpoint: each approval's event ids in order.
		byApproval := map[string][]int64{}
		for _, r := range hookReqs {
			byApproval[r.ApprovalID] = append(byApproval[r.ApprovalID], r.EventID)
		}
		for _, k := range keys {
			got := slices.Compact(byApproval[ids[k]])
			if len(got) != 6 || !slices.IsSorted(got) {
				t.Errorf("webhook endpoint: %s's events arrived as %v", k, byApproval[ids[k]])
			}
		}

		// The unordered channel: offline/0's creation, rate limited, came
		// after later messages of offline/0.
		steps = map[string][]int{}
		for _, text := range texts(e.fake, noneURL) {
			key, step := stepOf(text)
			steps[key] = append(steps[key], step)
		}
		s := steps["offline/0"]
		last := -1
		for i, step := range s {
			if step == 0 {
				last = i
			}
		}
		if last < 0 || !slices.ContainsFunc(s[:last], func(step int) bool { return step > 0 }) {
			t.Errorf("unordered channel: offline/0 arrived as steps %v, want its creation passed by later messages", s)
		}
	})
}

// A message given up on does not hold its approval's later messages back
// for ever: they go on, in order.
func TestLaterMessagesGoOnAfterOneFails(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_CREATED", "PIN_FAILED")
		e.fake.RespondTo(url, failFirst(func(text string) slacktest.Behavior {
			if strings.HasPrefix(text, "🔔") {
				return slacktest.Status(http.StatusBadRequest, "invalid_payload")
			}
			return nil
		}))
		a := e.createApproval(map[string]any{"keyPath": "held/back", "value": "x"})
		for n := 1; n <= 2; n++ {
			e.record(event.PinFailed, "held/back", func(ev *event.Event) { ev.ApprovalID, ev.Attempts, ev.MaxAttempts = &a.ID, ptr(n), ptr(9) })
		}
		got := e.settled(id, 3, 20*time.Second)
		statuses := []string{got[2].Status, got[1].Status, got[0].Status} // oldest first
		if !slices.Equal(statuses, []string{"FAILED", "DELIVERED", "DELIVERED"}) {
			t.Errorf("statuses oldest first %v", statuses)
		}
		var steps []int
		for _, text := range texts(e.fake, url) {
			_, step := stepOf(text)
			steps = append(steps, step)
		}
		if !slices.Equal(steps, []int{0, 1, 2}) {
			t.Errorf("Slack got steps %v, want 0 1 2", steps)
		}
	})
}

// ordering is set on creation, changed by the update mutations and read
// back; a value that is not an ordering is BAD_USER_INPUT.
func TestOrderingIsSetAndChanged(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, func(c *config.Config) { c.WebhookAllowedPrefixes = []string{"http://127.0.0.1:9/"} })
		id, _ := e.channel("ops", "APPROVAL_CREATED")
		var upd struct{ UpdateSlackChannel struct{ Ordering string } }
		e.owner.MustDo(`mutation($id: ID!) { updateSlackChannel(id: $id, input: {ordering: NONE}) { ordering } }`, map[string]any{"id": id}, &upd)
		if upd.UpdateSlackChannel.Ordering != "NONE" {
			t.Errorf("updated channel %+v", upd)
		}
		var hook struct {
			AddWebhookEndpoint struct{ Endpoint struct{ ID, Ordering string } }
		}
		e.owner.MustDo(`mutation($p: ID!, $i: AddWebhookEndpointInput!) { addWebhookEndpoint(projectId: $p, input: $i) { endpoint { id ordering } } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "hook", "url": "http://127.0.0.1:9/hook", "events": []string{"APPROVAL_CREATED"}, "ordering": "NONE"}}, &hook)
		var upHook struct{ UpdateWebhookEndpoint struct{ Ordering string } }
		e.owner.MustDo(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {ordering: PER_APPROVAL}) { ordering } }`,
			map[string]any{"id": hook.AddWebhookEndpoint.Endpoint.ID}, &upHook)
		if hook.AddWebhookEndpoint.Endpoint.Ordering != "NONE" || upHook.UpdateWebhookEndpoint.Ordering != "PER_APPROVAL" {
			t.Errorf("endpoint added %+v, updated %+v", hook, upHook)
		}
		for _, bad := range []any{"SOMETIMES", "PER_APPROVAL\x00", 1} {
			err := e.owner.ErrorCode(`mutation($id: ID!, $i: UpdateSlackChannelInput!) { updateSlackChannel(id: $id, input: $i) { ordering } }`,
				map[string]any{"id": id, "i": map[string]any{"ordering": bad}})
			if err.Code() != "BAD_USER_INPUT" {
				t.Errorf("ordering %q: %s %s", bad, err.Code(), err.Message)
			}
		}
		var after struct {
			Project struct{ SlackChannels []struct{ Ordering string } }
		}
		e.owner.MustDo(`query($p: ID!) { project(id: $p) { slackChannels { ordering } } }`, map[string]any{"p": e.pid}, &after)
		if len(after.Project.SlackChannels) != 1 || after.Project.SlackChannels[0].Ordering != "NONE" {
			t.Errorf("after the refused updates: %+v", after)
		}
	})
}
