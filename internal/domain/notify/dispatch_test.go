package notify_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

func ptr[T any](v T) *T { return &v }

// The approval flows, driven through the API, notify every enabled channel
// that selected their events, once each.
func TestEachEventReachesEachMatchingChannelOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		clock := &testserver.Clock{}
		e := newEnv(t, d, testserver.WithClock(clock))
		everything := []string{"APPROVAL_CREATED", "APPROVAL_EXECUTED", "APPROVAL_EXPIRED", "APPROVAL_INVALIDATED", "PIN_FAILED", "TOKEN_LOCKED"}
		all, allURL := e.channel("all", everything...)
		pins, pinsURL := e.channel("pins", "PIN_FAILED")
		offID, offURL := e.channel("off", everything...)
		e.owner.MustDo(`mutation($id: ID!) { toggleSlackChannel(id: $id, enabled: false) { id } }`, map[string]any{"id": offID}, nil)
		var disabledAtCreation struct{ AddSlackChannel struct{ ID string } }
		e.owner.MustDo(`mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
			map[string]any{"p": e.pid, "i": map[string]any{"name": "off-at-creation", "webhookUrl": offURL, "events": everything, "enabled": false}}, &disabledAtCreation)
		// Another project's channel hears nothing of this one.
		otherURL := e.fake.WebhookURL("T2", "B2", "OtherS3cret")
		e.owner.AddSlackChannel(e.owner.CreateProject("Other"), "other", otherURL, everything...)

		deploy := e.createApproval(map[string]any{"keyPath": "myapp/deploy", "value": "approved", "info": "Deploy to <production>?"})
		if status := e.execute(deploy.Token, "approve", ""); status != "EXECUTED" {
			t.Fatalf("execute: %s", status)
		}
		dropped := e.createApproval(map[string]any{"keyPath": "a/invalidated", "value": "x"})
		e.owner.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "superseded") { status } }`, map[string]any{"id": dropped.ID}, nil)
		guarded := e.createApproval(map[string]any{"keyPath": "a/pin", "value": "x", "pin": "1234", "maxPinAttempts": 2})
		e.execute(guarded.Token, "approve", "0000")
		if status := e.execute(guarded.Token, "approve", "0000"); status != "LOCKED" {
			t.Fatalf("second wrong PIN: %s", status)
		}
		late := e.createApproval(map[string]any{"keyPath": "a/expired", "value": "x", "ttlSeconds": 60})
		clock.Advance(2 * time.Minute)
		// Opening the link is the access attempt that finds it expired.
		if err := e.srv.Client("").ErrorCode(`query($t: String!) { approvalLink(token: $t) { status } }`, map[string]any{"t": late.Token}); err.Code() != "CONFLICT" {
			t.Fatalf("expired link: %s %s", err.Code(), err.Message)
		}

		got := e.settled(all, 10, 20*time.Second)
		e.settled(pins, 2, 20*time.Second)
		expires := func(a approval) string { return a.ExpiresAt.UTC().Format(time.RFC3339) }
		want := []string{
			"🔔 New approval request in My Project\nKey: myapp/deploy\nInfo: Deploy to &lt;production&gt;?\nExpires: " + expires(deploy),
			"✅ Approval executed in My Project\nKey: myapp/deploy\nAction: approve",
			"🔔 New approval request in My Project\nKey: a/invalidated\nExpires: " + expires(dropped),
			"❌ Approval invalidated in My Project\nKey: a/invalidated\nReason: superseded",
			"🔔 New approval request in My Project\nKey: a/pin\nExpires: " + expires(guarded),
			"🔐 PIN verification failed in My Project\nKey: a/pin\nAttempts: 1 of 2",
			"🔐 PIN verification failed in My Project\nKey: a/pin\nAttempts: 2 of 2",
			"🔒 Approval locked in My Project\nKey: a/pin\nReason: Too many failed PIN attempts",
			"🔔 New approval request in My Project\nKey: a/expired\nExpires: " + expires(late),
			"⏳ Approval expired in My Project\nKey: a/expired",
		}
		gotTexts := texts(e.fake, allURL)
		slices.Sort(gotTexts)
		slices.Sort(want)
		if !slices.Equal(gotTexts, want) {
			t.Errorf("channel 'all' received:\n%q\nwant:\n%q", gotTexts, want)
		}
		if pinTexts := texts(e.fake, pinsURL); len(pinTexts) != 2 || !strings.HasPrefix(pinTexts[0], "🔐") || !strings.HasPrefix(pinTexts[1], "🔐") {
			t.Errorf("channel 'pins' received %q", pinTexts)
		}
		if n := len(e.fake.RequestsTo(offURL)); n != 0 {
			t.Errorf("disabled channels received %d messages", n)
		}
		if n := len(e.fake.RequestsTo(otherURL)); n != 0 {
			t.Errorf("another project's channel received %d messages", n)
		}
		if n := len(e.deliveries(offID)) + len(e.deliveries(disabledAtCreation.AddSlackChannel.ID)); n != 0 {
			t.Errorf("disabled channels have %d deliveries", n)
		}
		if n := len(e.fake.Requests()); n != 12 {
			t.Errorf("fake Slack got %d requests, want 12", n)
		}

		// Each delivery: delivered at the first attempt, its event resolved,
		// one River job that completed without error; newest first.
		for i, del := range got {
			if del.Status != "DELIVERED" || del.Attempts != 1 || *del.LastStatusCode != 200 || del.LastError != nil || del.DeliveredAt == nil || del.NextAttemptAt != nil || del.ChannelID != all {
				t.Errorf("delivery %+v", del)
			}
			if i > 0 && eventID(t, del) >= eventID(t, got[i-1]) {
				t.Errorf("deliveries not newest first: event %s after %s", del.Event.ID, got[i-1].Event.ID)
			}
			if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "completed" || jobs[0].Attempt != 1 || jobs[0].Errors != 0 {
				t.Errorf("jobs of %s: %+v", del.ID, jobs)
			}
			if a := e.attempts(del.ID); len(a) != 1 || *a[0].StatusCode != 200 || *a[0].Body != "ok" || a[0].Outcome != "delivered" || a[0].Error != nil {
				t.Errorf("attempts of %s: %+v", del.ID, a)
			}
		}
		if got[0].Event.Type != "APPROVAL_EXPIRED" || got[9].Event.Type != "APPROVAL_CREATED" || got[9].Event.KeyPath != "myapp/deploy" {
			t.Errorf("order: first %+v, last %+v", got[0].Event, got[9].Event)
		}
		st := e.state(all)
		if st.LastDeliveryStatus == nil || *st.LastDeliveryStatus != "DELIVERED" || st.LastDeliveryAt == nil || st.LastError != nil {
			t.Errorf("channel state %+v", st)
		}

		// Pages of deliveries follow their cursors without gaps or repeats.
		type pagedChannel struct {
			ID         string
			Deliveries struct {
				Edges    []struct{ Node struct{ ID string } }
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		var seen []string
		var after *string
		for {
			var out struct {
				Project struct{ SlackChannels []pagedChannel }
			}
			e.owner.MustDo(`query($p: ID!, $after: String) { project(id: $p) { slackChannels { id deliveries(first: 3, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } } }`,
				map[string]any{"p": e.pid, "after": after}, &out)
			c := out.Project.SlackChannels[slices.IndexFunc(out.Project.SlackChannels, func(c pagedChannel) bool { return c.ID == all })]
			for _, edge := range c.Deliveries.Edges {
				seen = append(seen, edge.Node.ID)
			}
			if !c.Deliveries.PageInfo.HasNextPage {
				break
			}
			after = c.Deliveries.PageInfo.EndCursor
		}
		want = nil
		for _, del := range got {
			want = append(want, del.ID)
		}
		if !slices.Equal(seen, want) {
			t.Errorf("paged through %v, want %v", seen, want)
		}
		if e := e.owner.ErrorCode(`query($p: ID!) { project(id: $p) { slackChannels { deliveries(first: 101) { edges { cursor } } } } }`, map[string]any{"p": e.pid}); e.Code() != "BAD_USER_INPUT" {
			t.Errorf("first: 101 answered %s", e.Code())
		}
		e.noSecret(allURL, pinsURL, offURL)
	})
}

func eventID(t *testing.T, d delivery) int64 {
	t.Helper()
	id, err := strconv.ParseInt(d.Event.ID, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", d.Event.ID, err)
	}
	return id
}

func TestRolledBackEventSendsNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		id, url := e.channel("ops", "APPROVAL_EXPIRED")
		st := e.srv.App.Store
		errAbort := errors.New("the change failed")
		err := st.WithTx(context.Background(), func(ctx context.Context) error {
			if err := e.srv.App.Recorder.Record(ctx, &event.Event{Type: event.ApprovalExpired, ProjectID: e.pid, KeyPath: "rolled/back"}); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("transaction: %v", err)
		}
		e.record(event.ApprovalExpired, "committed")
		e.settled(id, 1, 20*time.Second)
		// Give a stray job time to be worked before looking.
		time.Sleep(300 * time.Millisecond)
		if got := texts(e.fake, url); len(got) != 1 || got[0] != "⏳ Approval expired in My Project\nKey: committed" {
			t.Errorf("fake Slack got %q", got)
		}
		var jobs, events int64
		storetest.Must(t, st.DB(context.Background()).Raw("SELECT count(*) FROM river_job WHERE queue = 'slack'").Scan(&jobs).Error)
		storetest.Must(t, st.DB(context.Background()).Raw("SELECT count(*) FROM events").Scan(&events).Error)
		if jobs != 1 || events != 1 {
			t.Errorf("%d jobs and %d events after a rollback and a commit", jobs, events)
		}
	})
}

func TestChannelDisabledOrRemovedAfterEnqueue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		// One message per channel every 10 s: the second event's jobs wait
		// for the channel's rate while their channels change, however
		// slowly a busy machine gets from the first event to the change.
		e := newEnv(t, d, func(c *config.Config) { c.Delivery.ChannelInterval, c.Delivery.ChannelBurst = 10*time.Second, 1 })
		disabled, disabledURL := e.channel("disabled", "PIN_FAILED")
		removed, removedURL := e.channel("removed", "PIN_FAILED")
		kept, keptURL := e.channel("kept", "PIN_FAILED")
		st := e.srv.App.Store
		e.record(event.PinFailed, "first")
		for _, id := range []string{disabled, removed, kept} {
			e.settled(id, 1, 20*time.Second)
		}
		// The second event's deliveries are made; before their jobs run,
		// one channel is disabled and another removed.
		e.record(event.PinFailed, "second")
		e.fannedOut()
		var pending int64
		storetest.Must(t, st.DB(context.Background()).Raw("SELECT count(*) FROM deliveries WHERE status = 'PENDING'").Scan(&pending).Error)
		if pending != 3 {
			t.Fatalf("%d deliveries pending, want the second event's 3", pending)
		}
		err := st.WithTx(context.Background(), func(ctx context.Context) error {
			if err := st.DB(ctx).Exec("UPDATE slack_channels SET enabled = ? WHERE id = ?", false, disabled).Error; err != nil {
				return err
			}
			return st.DB(ctx).Exec("DELETE FROM slack_channels WHERE id = ?", removed).Error
		})
		storetest.Must(t, err)
		e.settled(kept, 2, 30*time.Second)
		skipped := e.settled(disabled, 2, 30*time.Second)[0]
		if skipped.Status != "SKIPPED" || skipped.Attempts != 0 || skipped.Event.KeyPath != "second" {
			t.Errorf("delivery to the disabled channel: %+v", skipped)
		}
		if jobs := e.finishedJobs(skipped.ID); len(jobs) != 1 || jobs[0].State != "completed" {
			t.Errorf("jobs: %+v", jobs)
		}
		// The removed channel's job found nothing to deliver.
		var left int64
		eventually(t, 20*time.Second, func() bool {
			storetest.Must(t, st.DB(context.Background()).Raw("SELECT count(*) FROM river_job WHERE queue = 'slack' AND state <> 'completed'").Scan(&left).Error)
			return left == 0
		}, func() string { return "jobs still to work" })
		if n := len(e.fake.RequestsTo(disabledURL)) + len(e.fake.RequestsTo(removedURL)); n != 2 {
			t.Errorf("%d messages to channels disabled or removed, want the first event's 2", n)
		}
		if n := len(e.fake.RequestsTo(keptURL)); n != 2 {
			t.Errorf("kept channel got %d messages", n)
		}
	})
}
