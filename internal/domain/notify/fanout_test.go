package notify_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/notify"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// Two instances record events side by side in two projects: every event
// gets exactly one delivery per channel that selected it, with one job,
// and each message reaches Slack once.
func TestFanOutAcrossInstancesDeliversEachEventOnce(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: several instances need PostgreSQL")
	}
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	cfg := testserver.Config(t, store.Postgres)
	a := testserver.StartWith(t, cfg, fast(fake))
	b := testserver.StartWith(t, cfg, fast(fake))
	owner := a.SignUp("Owner")
	first := &env{t: t, srv: a, fake: fake, owner: owner, pid: owner.CreateProject("First")}
	second := &env{t: t, srv: a, fake: fake, owner: owner, pid: owner.CreateProject("Second")}
	_, allURL := first.channel("all", "APPROVAL_CREATED", "PIN_FAILED")
	_, pinURL := first.channel("pins", "PIN_FAILED")
	_, otherURL := second.channel("other", "APPROVAL_CREATED")

	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			srv := []*testserver.Server{a, b}[w%2]
			pid := []string{first.pid, second.pid}[w/2%2]
			for i := range each {
				ev := &event.Event{Type: []event.Type{event.ApprovalCreated, event.PinFailed}[i%2], ProjectID: pid, KeyPath: fmt.Sprintf("w%d/%d", w, i)}
				if err := srv.App.Recorder.Record(context.Background(), ev); err != nil {
					t.Errorf("record: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Per writer pair: First gets 25 events (all: 25, pins: 12), Second
	// 13 APPROVAL_CREATED of its 25.
	wantAll, wantPins, wantOther := 4*each, 4*(each/2), 4*((each+1)/2)
	want := wantAll + wantPins + wantOther
	if _, err := fake.Wait(want, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // room for a message too many
	for url, n := range map[string]int{allURL: wantAll, pinURL: wantPins, otherURL: wantOther} {
		got := texts(fake, url)
		seen := map[string]bool{}
		for _, text := range got {
			if seen[text] {
				t.Errorf("%q sent twice", text)
			}
			seen[text] = true
		}
		if len(got) != n {
			t.Errorf("%d messages to one channel, want %d", len(got), n)
		}
	}
	var deliveries, pairs, jobs int64
	db := a.App.Store.DB(context.Background())
	storetest.Must(t, db.Raw("SELECT count(*) FROM deliveries").Scan(&deliveries).Error)
	storetest.Must(t, db.Raw("SELECT count(DISTINCT (event_id, channel_id)) FROM deliveries").Scan(&pairs).Error)
	storetest.Must(t, db.Raw("SELECT count(*) FROM river_job WHERE queue = 'slack'").Scan(&jobs).Error)
	if deliveries != int64(want) || pairs != deliveries || jobs != deliveries {
		t.Errorf("%d deliveries for %d event and channel pairs, %d jobs; want %d of each", deliveries, pairs, jobs, want)
	}
}

// An event committed while no batch could run (another instance held the
// fan-out's turn) and not fanned out when its instance stopped is fanned
// out by the next instance.
func TestEventLeftByAStoppedInstanceIsFannedOut(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: several instances need PostgreSQL")
	}
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	cfg := testserver.Config(t, store.Postgres)
	first := testserver.StartWith(t, cfg, fast(fake))
	owner := first.SignUp("Owner")
	e := &env{t: t, srv: first, fake: fake, owner: owner, pid: owner.CreateProject("My Project")}
	id, url := e.channel("ops", "PIN_FAILED")

	// The turn is held on a connection of its own, which outlives both
	// instances' pools.
	ctx := context.Background()
	holder, err := sql.Open("pgx", cfg.DatabaseURL)
	storetest.Must(t, err)
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	storetest.Must(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", notify.FanoutLock)
	storetest.Must(t, err)
	e.record(event.PinFailed, "left behind")
	time.Sleep(200 * time.Millisecond) // the first instance's batch waits for its turn
	storetest.Must(t, first.App.Close())
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("%d messages sent while the fan-out could not run", n)
	}

	second := testserver.StartWith(t, cfg, fast(fake))
	e.srv, e.owner.Client = second, second.Client(owner.AccessToken)
	_, err = conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", notify.FanoutLock)
	storetest.Must(t, err)
	got := e.settled(id, 1, 20*time.Second)
	if got[0].Status != "DELIVERED" || got[0].Event.KeyPath != "left behind" {
		t.Errorf("deliveries %+v", got)
	}
	if texts := texts(fake, url); len(texts) != 1 || !strings.Contains(texts[0], "Key: left behind") {
		t.Errorf("fake Slack got %q", texts)
	}
}

// A channel gets the events that occurred after it was added, not the
// ones before, however late they are fanned out.
func TestChannelGetsOnlyEventsAfterItWasAdded(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		older, olderURL := e.channel("older", "APPROVAL_EXPIRED")
		newer, newerURL := e.channel("newer", "APPROVAL_EXPIRED")
		storetest.Must(t, e.srv.App.Store.DB(context.Background()).Exec("UPDATE slack_channels SET created_at = ? WHERE id = ?",
			store.Now().Add(-2*time.Hour), older).Error)
		e.record(event.ApprovalExpired, "an hour ago", func(ev *event.Event) { ev.OccurredAt = store.Now().Add(-time.Hour) })
		e.record(event.ApprovalExpired, "now")
		e.settled(older, 2, 20*time.Second)
		got := e.settled(newer, 1, 20*time.Second)
		if got[0].Event.KeyPath != "now" {
			t.Errorf("the newer channel got %+v", got)
		}
		if n, m := len(e.fake.RequestsTo(olderURL)), len(e.fake.RequestsTo(newerURL)); n != 2 || m != 1 {
			t.Errorf("%d and %d messages, want 2 and 1", n, m)
		}
	})
}
