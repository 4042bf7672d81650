package notify_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/event"
	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
)

func ptr[T any](v T) *T { return &v }

// addApproval inserts the approval a created event refers to, as the
// approvals flow would.
func (e *env) addApproval(key, info string, expires time.Time) string {
	e.t.Helper()
	id := store.NewID()
	storetest.Must(e.t, e.srv.App.Store.DB(context.Background()).Exec(
		`INSERT INTO approvals (id, project_id, key_path, info, actions, status, created_at, expires_at, token_hash, max_pin_attempts)
		 VALUES (?, ?, ?, ?, '[]', 'PENDING', ?, ?, ?, 5)`, id, e.pid, key, info, store.Now(), expires, id).Error)
	return id
}

func TestEachEventReachesEachMatchingChannelOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
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

		expires := time.Date(2030, 1, 1, 12, 30, 0, 0, time.UTC)
		approval := e.addApproval("myapp/deploy", "Deploy to <production>?", expires)
		e.record(event.ApprovalCreated, "myapp/deploy", func(ev *event.Event) { ev.ApprovalID = &approval })
		e.record(event.ApprovalExecuted, "myapp/deploy", func(ev *event.Event) { ev.ApprovalID, ev.Action = &approval, ptr("approve") })
		e.record(event.ApprovalExpired, "a/expired")
		e.record(event.ApprovalInvalidated, "a/invalidated")
		e.record(event.PinFailed, "a/pin", func(ev *event.Event) { ev.Attempts, ev.MaxAttempts = ptr(3), ptr(5) })
		e.record(event.TokenLocked, "a/locked", func(ev *event.Event) { ev.Reason = ptr(event.LockedReason) })
		e.record(event.PinFailed, "b/pin", func(ev *event.Event) { ev.Attempts, ev.MaxAttempts = ptr(1), ptr(5) })

		got := e.settled(all, 7, 20*time.Second)
		e.settled(pins, 2, 20*time.Second)
		want := []string{
			"🔔 New approval request in My Project\nKey: myapp/deploy\nInfo: Deploy to &lt;production&gt;?\nExpires: 2030-01-01T12:30:00Z",
			"✅ Approval executed in My Project\nKey: myapp/deploy\nAction: approve",
			"⏳ Approval expired in My Project\nKey: a/expired",
			"❌ Approval invalidated in My Project\nKey: a/invalidated",
			"🔐 PIN verification failed in My Project\nKey: a/pin\nAttempts: 3 of 5",
			"🔒 Approval locked in My Project\nKey: a/locked\nReason: Too many failed PIN attempts",
			"🔐 PIN verification failed in My Project\nKey: b/pin\nAttempts: 1 of 5",
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
		if n := len(e.fake.Requests()); n != 9 {
			t.Errorf("fake Slack got %d requests, want 9", n)
		}

		// Each delivery: delivered at the first attempt, its event resolved,
		// one River job that completed without error.
		for _, del := range got {
			if del.Status != "DELIVERED" || del.Attempts != 1 || *del.LastStatusCode != 200 || del.LastError != nil || del.DeliveredAt == nil || del.NextAttemptAt != nil || del.ChannelID != all {
				t.Errorf("delivery %+v", del)
			}
			if jobs := e.finishedJobs(del.ID); len(jobs) != 1 || jobs[0].State != "completed" || jobs[0].Attempt != 1 || jobs[0].Errors != 0 {
				t.Errorf("jobs of %s: %+v", del.ID, jobs)
			}
			if a := e.attempts(del.ID); len(a) != 1 || *a[0].StatusCode != 200 || *a[0].Body != "ok" || a[0].Outcome != "delivered" || a[0].Error != nil {
				t.Errorf("attempts of %s: %+v", del.ID, a)
			}
		}
		// Newest first: the events were recorded in order.
		if got[0].Event.KeyPath != "b/pin" || got[6].Event.Type != "APPROVAL_CREATED" || got[6].Event.KeyPath != "myapp/deploy" {
			t.Errorf("order: first %+v, last %+v", got[0].Event, got[6].Event)
		}
		st := e.state(all)
		if st.LastDeliveryStatus == nil || *st.LastDeliveryStatus != "DELIVERED" || st.LastDeliveryAt == nil || st.LastError != nil {
			t.Errorf("channel state %+v", st)
		}

		// Pages of deliveries follow their cursors without gaps or repeats.
		var seen []string
		after := ""
		for {
			var out struct {
				Project struct {
					SlackChannels []struct {
						ID         string
						Deliveries struct {
							Edges    []struct{ Node struct{ ID string } }
							PageInfo struct {
								HasNextPage bool
								EndCursor   *string
							}
						}
					}
				}
			}
			vars := map[string]any{"p": e.pid}
			if after != "" {
				vars["after"] = after
			}
			e.owner.MustDo(`query($p: ID!, $after: String) { project(id: $p) { slackChannels { id deliveries(first: 3, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } } }`, vars, &out)
			for _, c := range out.Project.SlackChannels {
				if c.ID != all {
					continue
				}
				for _, edge := range c.Deliveries.Edges {
					seen = append(seen, edge.Node.ID)
				}
				if !c.Deliveries.PageInfo.HasNextPage {
					after = ""
				} else {
					after = *c.Deliveries.PageInfo.EndCursor
				}
			}
			if after == "" {
				break
			}
		}
		if len(seen) != 7 || seen[0] != got[0].ID || seen[6] != got[6].ID {
			t.Errorf("paged through %d deliveries: %v", len(seen), seen)
		}
		e.noSecret(allURL, pinsURL, offURL)
	})
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
		storetest.Must(t, st.DB(context.Background()).Raw("SELECT count(*) FROM river_job").Scan(&jobs).Error)
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
		e := newEnv(t, d)
		disabled, disabledURL := e.channel("disabled", "PIN_FAILED")
		removed, removedURL := e.channel("removed", "PIN_FAILED")
		kept, keptURL := e.channel("kept", "PIN_FAILED")
		st := e.srv.App.Store
		// The event is enqueued; before its deliveries are made, one channel
		// is disabled and another removed, committed together so that no
		// worker can get there first.
		err := st.WithTx(context.Background(), func(ctx context.Context) error {
			if err := e.srv.App.Recorder.Record(ctx, &event.Event{Type: event.PinFailed, ProjectID: e.pid, KeyPath: "k"}); err != nil {
				return err
			}
			var deliveries int64
			if err := st.DB(ctx).Raw("SELECT count(*) FROM deliveries").Scan(&deliveries).Error; err != nil || deliveries != 3 {
				return errors.Join(err, errors.New("deliveries were not enqueued"))
			}
			if err := st.DB(ctx).Exec("UPDATE slack_channels SET enabled = ? WHERE id = ?", false, disabled).Error; err != nil {
				return err
			}
			return st.DB(ctx).Exec("DELETE FROM slack_channels WHERE id = ?", removed).Error
		})
		storetest.Must(t, err)
		e.settled(kept, 1, 20*time.Second)
		skipped := e.settled(disabled, 1, 20*time.Second)
		if skipped[0].Status != "SKIPPED" || skipped[0].Attempts != 0 {
			t.Errorf("delivery to the disabled channel: %+v", skipped[0])
		}
		if jobs := e.finishedJobs(skipped[0].ID); len(jobs) != 1 || jobs[0].State != "completed" {
			t.Errorf("jobs: %+v", jobs)
		}
		// The removed channel's job found nothing to deliver.
		var left int64
		eventually(t, 20*time.Second, func() bool {
			storetest.Must(t, st.DB(context.Background()).Raw("SELECT count(*) FROM river_job WHERE state <> 'completed'").Scan(&left).Error)
			return left == 0
		}, func() string { return "jobs still to work" })
		if n := len(e.fake.RequestsTo(disabledURL)) + len(e.fake.RequestsTo(removedURL)); n != 0 {
			t.Errorf("%d messages to channels disabled or removed", n)
		}
		if n := len(e.fake.RequestsTo(keptURL)); n != 1 {
			t.Errorf("kept channel got %d messages", n)
		}
	})
}
