package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestMain fails the package if a test leaves a goroutine behind: no
// subscription, feed or listener may outlive its server.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const projectEvents = `subscription($p: ID!, $t: [EventType!], $a: ID) {
  projectEvents(projectId: $p, types: $t, after: $a) { id type projectId approvalId keyPath occurredAt }
}`

type liveEvent struct {
	ID, Type, ProjectID, KeyPath string
	ApprovalID                   *string
	OccurredAt                   time.Time
}

// nextEvent reads the subscription's next result, which must be an event.
func nextEvent(t *testing.T, next func() testserver.Result) liveEvent {
	t.Helper()
	r := next()
	if r.Complete || len(r.Errors) > 0 {
		t.Fatalf("got complete=%v errors=%+v, want an event", r.Complete, r.Errors)
	}
	var out struct{ ProjectEvents liveEvent }
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	return out.ProjectEvents
}

// expectEnd reads an error result with code, then the end of the stream.
func expectEnd(t *testing.T, next func() testserver.Result, code string) {
	t.Helper()
	r := next()
	if len(r.Errors) == 0 || r.Errors[0].Code() != code {
		t.Fatalf("got %+v, want an error with code %s", r, code)
	}
	if r := next(); !r.Complete {
		t.Fatalf("got %+v after the error, want complete", r)
	}
}

func id(ev event.Event) string { return strconv.FormatInt(ev.ID, 10) }

// setup starts a server and returns it with a project and a READ key.
func setup(t *testing.T, d store.Dialect, opts ...testserver.Option) (*testserver.Server, *testserver.User, string, string, string) {
	srv := testserver.Start(t, d, opts...)
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("Live")
	keyID, key := alice.CreateAPIKey(pid, "READ")
	return srv, alice, pid, keyID, key
}

// subscribed waits until sub receives a marker event. Subscriptions start
// with after set to the last event before them, so that the marker arrives
// whether the subscription reached the broker before it or not.
func subscribed(t *testing.T, srv *testserver.Server, pid string, next func() testserver.Result) event.Event {
	t.Helper()
	marker := srv.Record(pid, event.ApprovalCreated)
	if got := nextEvent(t, next); got.ID != id(marker) {
		t.Fatalf("first event %s, want the marker %d", got.ID, marker.ID)
	}
	return marker
}

// finalEvents reads the project's events after pos once want of them
// are final (event.After hands out an event only once every transaction
// that started before it has ended), or after 10 s.
func finalEvents(t *testing.T, srv *testserver.Server, pid string, pos event.Position, want int) []event.Event {
	t.Helper()
	start := time.Now()
	for {
		stored, err := event.After(context.Background(), srv.App.Store, pid, pos, nil, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) >= want || time.Since(start) > 10*time.Second {
			t.Logf("%d events final after %v", len(stored), time.Since(start))
			return stored
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProjectEventsArriveInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		cursor := "0"
		for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
			t.Run(protocol, func(t *testing.T) {
				sub := srv.Connect(protocol, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": cursor})
				subscribed(t, srv, pid, sub.Next)
				var want []event.Event
				for i := range 20 {
					want = append(want, srv.Record(pid, event.AllTypes[i%len(event.AllTypes)]))
				}
				for _, w := range want {
					got := nextEvent(t, sub.Next)
					if got.ID != id(w) || got.Type != string(w.Type) || got.ProjectID != pid || got.KeyPath != w.KeyPath ||
						!got.OccurredAt.Equal(w.OccurredAt) {
						t.Fatalf("got %+v, want %+v", got, w)
					}
				}
				cursor = id(want[len(want)-1])
			})
		}
	})
}

// TestConcurrentRecordingStaysInOrder records from many goroutines at once:
// every subscriber still gets every event once, in increasing ID order.
func TestConcurrentRecordingStaysInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		sub := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
		marker := subscribed(t, srv, pid, sub.Next)

		const writers, each = 8, 15
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range each {
					ev := event.Event{Type: event.PinFailed, ProjectID: pid, KeyPath: "k"}
					if err := srv.App.Recorder.Record(context.Background(), &ev); err != nil {
						t.Errorf("record: %v", err)
					}
				}
			})
		}
		wg.Wait()
		stored := finalEvents(t, srv, pid, marker.Position(), writers*each)
		if len(stored) != writers*each {
			t.Fatalf("%d events stored, want %d", len(stored), writers*each)
		}
		for _, w := range stored {
			if got := nextEvent(t, sub.Next); got.ID != id(w) {
				t.Fatalf("got event %s, want %d (ID order, once each)", got.ID, w.ID)
			}
		}
	})
}

func TestProjectEventsFilterByType(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		ws := srv.Connect(testserver.TransportWS, key)
		locks := ws.Subscribe(projectEvents, map[string]any{"p": pid, "t": []string{"PIN_FAILED", "TOKEN_LOCKED"}, "a": "0"})
		all := ws.Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
		first := srv.Record(pid, event.PinFailed)
		if got := nextEvent(t, all.Next); got.ID != id(first) {
			t.Fatalf("got %s, want %d", got.ID, first.ID)
		}
		srv.Record(pid, event.ApprovalCreated)
		locked := srv.Record(pid, event.TokenLocked)
		srv.Record(pid, event.ApprovalExecuted)
		failed := srv.Record(pid, event.PinFailed)

		for _, w := range []event.Event{first, locked, failed} {
			if got := nextEvent(t, locks.Next); got.ID != id(w) || got.Type != string(w.Type) {
				t.Fatalf("filtered subscription got %+v, want %s %d", got, w.Type, w.ID)
			}
		}
		for range 4 { // the unfiltered one gets the other four
			nextEvent(t, all.Next)
		}

		bad := ws.Subscribe(projectEvents, map[string]any{"p": pid, "t": []string{"NO_SUCH_TYPE"}})
		if r := bad.Next(); len(r.Errors) == 0 {
			t.Fatalf("unknown type accepted: %+v", r)
		}
	})
}

// TestReplayAfterHasNoGapOrDuplicate subscribes with after while another
// goroutine keeps recording, over every transport (shared groups over
// graphql-transport-ws, groups of one over the legacy protocol and SSE)
// and both databases: the events recorded before subscribing are
// replayed, and the replay and the live events join into exactly the
// events after the cursor, in order, each once.
func TestReplayAfterHasNoGapOrDuplicate(t *testing.T) {
	t.Parallel()
	transports := []struct {
		name      string
		subscribe func(srv *testserver.Server, key string, vars map[string]any) func() testserver.Result
	}{
		{testserver.TransportWS, func(srv *testserver.Server, key string, vars map[string]any) func() testserver.Result {
			return srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, vars).Next
		}},
		{testserver.LegacyWS, func(srv *testserver.Server, key string, vars map[string]any) func() testserver.Result {
			return srv.Connect(testserver.LegacyWS, key).Subscribe(projectEvents, vars).Next
		}},
		{"sse", func(srv *testserver.Server, key string, vars map[string]any) func() testserver.Result {
			return srv.SubscribeSSE(key, projectEvents, vars).Next
		}},
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		for _, tr := range transports {
			t.Run(tr.name, func(t *testing.T) {
				replayThenLive(t, d, tr.subscribe)
			})
		}
	})
}

func replayThenLive(t *testing.T, d store.Dialect, subscribe func(*testserver.Server, string, map[string]any) func() testserver.Result) {
	srv, _, pid, _, key := setup(t, d)
	var before []event.Event
	for range 30 {
		before = append(before, srv.Record(pid, event.ApprovalCreated))
	}
	after := before[9]

	stop := make(chan struct{})
	recorded := make(chan int)
	go func() {
		n := 0
		defer func() { recorded <- n }()
		for {
			select {
			case <-stop:
				return
			default:
				ev := event.Event{Type: event.PinFailed, ProjectID: pid, KeyPath: "during"}
				if err := srv.App.Recorder.Record(context.Background(), &ev); err != nil {
					t.Errorf("record: %v", err)
					return
				}
				n++
			}
		}
	}()
	next := subscribe(srv, key, map[string]any{"p": pid, "a": id(after)})
	var got []liveEvent
	for range 25 { // some replayed, some live
		got = append(got, nextEvent(t, next))
	}
	close(stop)
	during := <-recorded
	last := srv.Record(pid, event.ApprovalExpired)

	for got[len(got)-1].ID != id(last) {
		got = append(got, nextEvent(t, next))
	}
	stored := finalEvents(t, srv, pid, after.Position(), 20+during+1)
	if len(stored) != 20+during+1 {
		t.Fatalf("%d events stored after the cursor, want %d", len(stored), 20+during+1)
	}
	if len(got) != len(stored) {
		t.Fatalf("received %d events, want %d (recorded during the subscription: %d)", len(got), len(stored), during)
	}
	for i := range stored {
		if got[i].ID != id(stored[i]) {
			t.Fatalf("event %d is %s, want %d", i, got[i].ID, stored[i].ID)
		}
	}

	bad := subscribe(srv, key, map[string]any{"p": pid, "a": "not-an-id"})
	if r := bad(); len(r.Errors) == 0 || r.Errors[0].Field() != "after" {
		t.Fatalf("bad cursor: got %+v, want BAD_USER_INPUT on after", r)
	}
}

func TestOtherTenantIsRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, _ := setup(t, d)
		bob := srv.SignUp("Bob")
		bobProject := bob.CreateProject("Bob's")
		_, bobKey := bob.CreateAPIKey(bobProject, "WRITE")
		srv.Record(pid, event.ApprovalCreated)

		for name, cred := range map[string]string{"user": bob.AccessToken, "key of another project": bobKey} {
			sub := srv.Connect(testserver.TransportWS, cred).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
			if r := sub.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" || len(r.Data) > 0 && string(r.Data) != "null" {
				t.Fatalf("%s: got %+v, want NOT_FOUND and no event", name, r)
			}
			if r := sub.Next(); !r.Complete {
				t.Fatalf("%s: got %+v, want complete", name, r)
			}
		}
		anonymous := srv.Connect(testserver.TransportWS, "").Subscribe(projectEvents, map[string]any{"p": pid})
		if r := anonymous.Next(); len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous: got %+v, want UNAUTHENTICATED", r)
		}
	})
}

func fastRecheck(c *config.Config) { c.Live.Recheck = 20 * time.Millisecond }

// subscribedOverBoth subscribes to pid's events with cred over
// graphql-transport-ws (where subscribers share renderings and rechecks)
// and over the legacy graphql-ws protocol (where each runs its own), and
// waits until both receive a marker event.
func subscribedOverBoth(t *testing.T, srv *testserver.Server, cred, pid string) []*testserver.Sub {
	t.Helper()
	shared := srv.Connect(testserver.TransportWS, cred).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	own := srv.Connect(testserver.LegacyWS, cred).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	marker := subscribed(t, srv, pid, shared.Next)
	if got := nextEvent(t, own.Next); got.ID != id(marker) {
		t.Fatalf("legacy subscriber's first event %s, want the marker %d", got.ID, marker.ID)
	}
	return []*testserver.Sub{shared, own}
}

func TestRevokingTheKeyEndsTheSubscription(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, alice, pid, keyID, key := setup(t, d, fastRecheck)
		subs := subscribedOverBoth(t, srv, key, pid)
		alice.MustDo(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": keyID}, nil)
		for _, sub := range subs {
			expectEnd(t, sub.Next, "UNAUTHENTICATED")
		}
	})
}

func TestRemovedMemberLosesTheSubscription(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, alice, pid, _, _ := setup(t, d, fastRecheck)
		bob := srv.SignUp("Bob")
		alice.MustDo(`mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: VIEWER) { role } }`,
			map[string]any{"p": pid, "e": bob.Email}, nil)
		subs := subscribedOverBoth(t, srv, bob.AccessToken, pid)
		alice.MustDo(`mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }`,
			map[string]any{"p": pid, "u": bob.ID}, nil)
		for _, sub := range subs {
			expectEnd(t, sub.Next, "NOT_FOUND")
		}
	})
}

// TestExpiredAccessTokenEndsTheSubscription signs a token that expires in a
// moment with the server's secret, as the server itself would. Over
// graphql-transport-ws the connection closes with 4403, which graphql-ws
// clients retry with fresh connectionParams (a completed subscription
// would be over for them); the legacy protocol, which has no such
// convention, ends the subscription with UNAUTHENTICATED.
func TestExpiredAccessTokenEndsTheSubscription(t *testing.T) {
	t.Parallel()
	cfg := testserver.Config(t, store.SQLite)
	srv := testserver.StartWith(t, cfg)
	alice := srv.SignUp("Alice")
	// A fragment keeps the subscription out of the shared renderings: it
	// runs on gqlgen's own path.
	const unshared = `subscription($p: ID!, $a: ID) { projectEvents(projectId: $p, after: $a) { ...E } }
fragment E on Event { id type projectId approvalId keyPath occurredAt }`
	for _, c := range []struct{ name, protocol, query string }{
		{"shared", testserver.TransportWS, projectEvents},
		{"unshared", testserver.TransportWS, unshared},
		{"legacy", testserver.LegacyWS, projectEvents},
	} {
		protocol := c.protocol
		t.Run(c.name, func(t *testing.T) {
			pid := alice.CreateProject("Live " + c.name)
			now := time.Now()
			token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
				Issuer: "ottr", Audience: jwt.ClaimStrings{"ottr-api"}, Subject: alice.ID,
				IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(3 * time.Second)),
			}).SignedString(cfg.JWTSecret)
			if err != nil {
				t.Fatal(err)
			}
			ws := srv.Connect(protocol, token)
			sub := ws.Subscribe(c.query, map[string]any{"p": pid, "a": "0"})
			subscribed(t, srv, pid, sub.Next)
			if protocol == testserver.TransportWS {
				if code, reason := ws.CloseStatus(); code != 4403 {
					t.Fatalf("closed with %d %q, want 4403", code, reason)
				}
			} else {
				expectEnd(t, sub.Next, "UNAUTHENTICATED")
			}
			if time.Now().Before(now.Add(time.Second)) {
				t.Fatal("the subscription ended before the token expired")
			}
		})
	}
}

// TestSlowSubscriberIsDropped lets one subscriber stop reading while events
// of 64 KiB keep coming: once its socket and its buffer are full it is
// dropped, without holding back the subscriber that keeps reading, and
// when it reads again it finds what was sent, then the error. Over
// graphql-transport-ws the two share their rendering (a group), over
// graphql-ws each has its own.
func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		for _, protocol := range []string{testserver.LegacyWS, testserver.TransportWS} {
			t.Run(protocol, func(t *testing.T) {
				t.Parallel()
				slowSubscriberIsDropped(t, d, protocol)
			})
		}
	})
}

func slowSubscriberIsDropped(t *testing.T, d store.Dialect, protocol string) {
	// The slow client answers no ping: a long keep-alive keeps the server
	// from dropping it for that (after two intervals) before its queue
	// fills, which takes longer than 30 s on a busy machine.
	srv, _, pid, _, key := setup(t, d, func(c *config.Config) { c.Live.Buffer, c.Live.KeepAlive = 4, 10*time.Minute })
	fast := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	slow := srv.Connect(protocol, key, testserver.ReceiveBuffer(64<<10)).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	marker := srv.Record(pid, event.ApprovalCreated)
	for _, sub := range []*testserver.Sub{fast, slow} {
		if got := nextEvent(t, sub.Next); got.ID != id(marker) {
			t.Fatalf("got %s, want the marker", got.ID)
		}
	}

	big := strings.Repeat("x", 64<<10)
	const most = 2000 // 128 MiB: far more than the socket buffers
	recorded := 0
	for ; recorded < most && !strings.Contains(srv.Logs.String(), "dropped slow event subscribers"); recorded++ {
		w := srv.RecordEvent(event.Event{Type: event.PinFailed, ProjectID: pid, KeyPath: big})
		if got := nextEvent(t, fast.Next); got.ID != id(w) {
			t.Fatalf("fast subscriber got %s, want %d", got.ID, w.ID)
		}
	}
	if recorded == most {
		t.Fatalf("the slow subscriber was not dropped after %d events", most)
	}
	t.Logf("dropped after %d events", recorded)
	after := srv.Record(pid, event.ApprovalExpired)
	if got := nextEvent(t, fast.Next); got.ID != id(after) {
		t.Fatalf("fast subscriber got %s after the drop, want %d", got.ID, after.ID)
	}

	prev := marker.ID
	for {
		r := slow.Next()
		if len(r.Errors) > 0 {
			if r.Errors[0].Code() != "RATE_LIMITED" {
				t.Fatalf("slow subscriber ended with %+v, want RATE_LIMITED", r.Errors)
			}
			break
		}
		var out struct{ ProjectEvents liveEvent }
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		n, _ := strconv.ParseInt(out.ProjectEvents.ID, 10, 64)
		if n != prev+1 {
			t.Fatalf("slow subscriber got %d after %d: a gap before the error", n, prev)
		}
		prev = n
	}
	if prev >= after.ID {
		t.Fatalf("slow subscriber received up to %d, past the drop", prev)
	}
	if r := slow.Next(); !r.Complete {
		t.Fatalf("got %+v after the error, want complete", r)
	}
}

func TestSSE(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d, fastRecheck)
		before := srv.Record(pid, event.ApprovalCreated)
		sse := srv.SubscribeSSE(key, projectEvents, map[string]any{"p": pid, "a": "0"})
		if got := nextEvent(t, sse.Next); got.ID != id(before) {
			t.Fatalf("replayed %s, want %d", got.ID, before.ID)
		}
		live := srv.Record(pid, event.TokenLocked)
		if got := nextEvent(t, sse.Next); got.ID != id(live) || got.Type != "TOKEN_LOCKED" {
			t.Fatalf("got %+v, want %d", got, live.ID)
		}
		sse.Close()

		refused := srv.SubscribeSSE("otr_not-a-key", projectEvents, map[string]any{"p": pid})
		expectEnd(t, refused.Next, "UNAUTHENTICATED")
	})
}

// TestTwoInstancesShareEvents runs two servers on one PostgreSQL database:
// a mutation on either reaches the subscribers of both, once each.
func TestTwoInstancesShareEvents(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: several instances need PostgreSQL")
	}
	cfg := testserver.Config(t, store.Postgres)
	a := testserver.StartWith(t, cfg)
	b := testserver.StartWith(t, cfg)
	alice := a.SignUp("Alice")
	pid := alice.CreateProject("Shared")
	_, key := alice.CreateAPIKey(pid, "WRITE")

	onA := a.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	onB := b.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	// Alternate instances: each approval's creation arrives once on each, in
	// order.
	var want []string
	for i := range 6 {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		var out struct {
			CreateApproval struct{ Approval struct{ ID string } }
		}
		srv.Client(key).MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes"}) { approval { id } } }`,
			map[string]any{"p": pid, "k": fmt.Sprintf("app/deploy-%d", i)}, &out)
		want = append(want, out.CreateApproval.Approval.ID)
	}
	for name, sub := range map[string]*testserver.Sub{"A": onA, "B": onB} {
		var last int64
		for _, approvalID := range want {
			got := nextEvent(t, sub.Next)
			n, _ := strconv.ParseInt(got.ID, 10, 64)
			if got.Type != "APPROVAL_CREATED" || got.ApprovalID == nil || *got.ApprovalID != approvalID || n <= last {
				t.Fatalf("instance %s got %+v, want the creation of %s after event %d", name, got, approvalID, last)
			}
			last = n
		}
	}
}

func TestServerShutdownEndsSubscriptions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		sub := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
		subscribed(t, srv, pid, sub.Next)
		if err := srv.App.Feed.Close(); err != nil {
			t.Fatal(err)
		}
		expectEnd(t, sub.Next, "SHUTTING_DOWN")
	})
}

// TestListenerCatchesUpAfterReconnecting kills the listeners' connections
// and records while they reconnect: the notifications are lost, the events
// are not, and none arrives twice.
func TestListenerCatchesUpAfterReconnecting(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: the listener needs PostgreSQL")
	}
	cfg := testserver.Config(t, store.Postgres)
	a := testserver.StartWith(t, cfg)
	b := testserver.StartWith(t, cfg)
	alice := a.SignUp("Alice")
	pid := alice.CreateProject("Shared")
	_, key := alice.CreateAPIKey(pid, "READ")
	onB := b.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	subscribed(t, a, pid, onB.Next)

	var killed int
	// The event listeners' connections only, not River's (it LISTENs for its jobs).
	err := a.App.Store.DB(context.Background()).Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = ?`, "LISTEN "+pgx.Identifier{event.ChannelName}.Sanitize()).Scan(&killed).Error
	if err != nil || killed != 2 {
		t.Fatalf("terminated %d listener connections (%v), want 2", killed, err)
	}
	lost := a.Record(pid, event.PinFailed)
	if got := nextEvent(t, onB.Next); got.ID != id(lost) {
		t.Fatalf("got %s, want %d", got.ID, lost.ID)
	}
	next := a.Record(pid, event.TokenLocked)
	if got := nextEvent(t, onB.Next); got.ID != id(next) {
		t.Fatalf("got %s after the catch-up, want %d (once each)", got.ID, next.ID)
	}
	if !strings.Contains(b.Logs.String(), "event listener reconnected") {
		t.Error("instance B's listener did not reconnect")
	}
}

// TestIdleFeedCatchesUpExactly: while nobody subscribes the feed reads
// nothing (PostgreSQL); a subscriber that comes later gets no event from
// before it without after, and every event once with after.
func TestIdleFeedCatchesUpExactly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		var before []event.Event
		for range 30 {
			before = append(before, srv.Record(pid, event.ApprovalCreated))
		}
		// The thirty are final before anybody subscribes: an event a
		// transaction anywhere on the server still holds back is published
		// when it becomes final, even to a subscriber that came after it.
		if final := finalEvents(t, srv, pid, before[0].Position(), len(before)-1); len(final) != len(before)-1 {
			t.Fatalf("%d of the thirty final after 10 s", len(final)+1)
		}
		// Without after: markers until one arrives; the first event is
		// a marker, never one of the thirty.
		live := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid})
		got := make(chan testserver.Result, 1)
		go func() { got <- live.Next() }()
		markers := map[string]bool{}
		var r testserver.Result
	wait:
		for {
			markers[id(srv.Record(pid, event.PinFailed))] = true
			select {
			case r = <-got:
				break wait
			case <-time.After(50 * time.Millisecond):
			}
		}
		first := nextEvent(t, func() testserver.Result { return r })
		if !markers[first.ID] || first.Type != "PIN_FAILED" {
			t.Fatalf("first live event %+v, want one of the markers recorded after subscribing", first)
		}
		// With after: the rest of the thirty, then every marker, once each.
		replay := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": id(before[9])})
		for _, w := range before[10:] {
			if ev := nextEvent(t, replay.Next); ev.ID != id(w) {
				t.Fatalf("replayed %s, want %d", ev.ID, w.ID)
			}
		}
		for range len(markers) {
			if ev := nextEvent(t, replay.Next); !markers[ev.ID] {
				t.Fatalf("got %+v, want a marker", ev)
			} else {
				delete(markers, ev.ID)
			}
		}
		after := srv.Record(pid, event.ApprovalExpired)
		if ev := nextEvent(t, replay.Next); ev.ID != id(after) {
			t.Fatalf("got %+v, want the event recorded last (%d)", ev, after.ID)
		}
	})
}
