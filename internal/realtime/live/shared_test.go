package live_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/realtime/live"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestSharedSubscribersKeepTheirOwnCredentials: graphql-transport-ws
// subscribers of the same operation share one rendering of each event,
// which is byte for byte what a subscriber of its own (legacy graphql-ws,
// served by gqlgen's transport) receives; revoking a key ends the
// subscriptions made with it (they share their rechecks), and only those.
func TestSharedSubscribersKeepTheirOwnCredentials(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, alice, pid, keyID, key := setup(t, d, fastRecheck)
		_, other := alice.CreateAPIKey(pid, "READ")
		vars := map[string]any{"p": pid, "a": "0"}
		revoked := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, vars)
		revokedToo := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, vars)
		kept := srv.Connect(testserver.TransportWS, other).Subscribe(projectEvents, vars)
		own := srv.Connect(testserver.LegacyWS, other).Subscribe(projectEvents, vars)
		// Another selection is another rendering.
		narrow := srv.Connect(testserver.TransportWS, other).Subscribe(`subscription($p: ID!) { projectEvents(projectId: $p, after: "0") { id } }`,
			map[string]any{"p": pid})

		marker := srv.Record(pid, event.ApprovalCreated)
		var want []byte
		for name, sub := range map[string]*testserver.Sub{"revoked": revoked, "revokedToo": revokedToo, "kept": kept, "own": own} {
			r := sub.Next()
			if got := nextEvent(t, func() testserver.Result { return r }); got.ID != id(marker) {
				t.Fatalf("%s: got %s, want the marker %d", name, got.ID, marker.ID)
			}
			if want == nil {
				want = r.Data
			} else if !bytes.Equal(r.Data, want) {
				t.Fatalf("%s received %s, another subscriber %s", name, r.Data, want)
			}
		}
		if r := narrow.Next(); string(r.Data) != `{"projectEvents":{"id":"`+id(marker)+`"}}` {
			t.Fatalf("narrow selection: got %s", r.Data)
		}

		alice.MustDo(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": keyID}, nil)
		expectEnd(t, revoked.Next, "UNAUTHENTICATED")
		expectEnd(t, revokedToo.Next, "UNAUTHENTICATED")
		after := srv.Record(pid, event.ApprovalExpired)
		for name, sub := range map[string]*testserver.Sub{"kept": kept, "own": own} {
			if got := nextEvent(t, sub.Next); got.ID != id(after) {
				t.Fatalf("%s: got %s after the revocation, want %d", name, got.ID, after.ID)
			}
		}
	})
}

// TestSharedSubscriberLeavesAlone: a subscriber that completes its
// subscription stops receiving; the others of its group do not notice,
// and one that joins later replays from its own cursor.
func TestSharedSubscriberLeavesAlone(t *testing.T) {
	t.Parallel()
	srv, _, pid, _, key := setup(t, store.SQLite)
	first := srv.Record(pid, event.ApprovalCreated)
	ws := srv.Connect(testserver.TransportWS, key)
	a := ws.Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	b := srv.Connect(testserver.TransportWS, key).Subscribe(projectEvents, map[string]any{"p": pid, "a": "0"})
	for _, sub := range []*testserver.Sub{a, b} {
		if got := nextEvent(t, sub.Next); got.ID != id(first) {
			t.Fatalf("got %s, want %d", got.ID, first.ID)
		}
	}
	a.Stop()
	if r := a.Next(); !r.Complete {
		t.Fatalf("got %+v after stopping, want complete", r)
	}
	second := srv.Record(pid, event.PinFailed)
	if got := nextEvent(t, b.Next); got.ID != id(second) {
		t.Fatalf("got %s, want %d", got.ID, second.ID)
	}
	// Same operation, its own cursor: it replays what the group had sent.
	late := ws.Subscribe(projectEvents, map[string]any{"p": pid, "a": id(first)})
	if got := nextEvent(t, late.Next); got.ID != id(second) {
		t.Fatalf("late subscriber got %s, want %d", got.ID, second.ID)
	}
	third := srv.Record(pid, event.ApprovalExpired)
	for _, sub := range []*testserver.Sub{b, late} {
		if got := nextEvent(t, sub.Next); got.ID != id(third) {
			t.Fatalf("got %s, want %d", got.ID, third.ID)
		}
	}
}

// skipRenderer renders an event as its ID, and ApprovalExpired events not
// at all, as gqlgen's renderer does when it gives no response.
type skipRenderer struct{}

func (skipRenderer) Render(ev *event.Event) ([]byte, bool) {
	if ev.Type == event.ApprovalExpired {
		return nil, false
	}
	return []byte(strconv.FormatInt(ev.ID, 10)), true
}
func (skipRenderer) Close() {}

// chanMember receives a shared subscription's results on a channel.
type chanMember struct {
	got   chan []byte
	ended chan error
}

func newChanMember() *chanMember {
	return &chanMember{got: make(chan []byte, 16), ended: make(chan error, 1)}
}

func (m *chanMember) Send(p []byte) bool {
	select {
	case m.got <- p:
		return true
	default:
		return false
	}
}

func (m *chanMember) SendWait(ctx context.Context, p []byte) bool {
	select {
	case m.got <- p:
		return true
	case <-ctx.Done():
		return false
	}
}

func (m *chanMember) End(err error) { m.ended <- err }

func (m *chanMember) next(t *testing.T) string {
	t.Helper()
	select {
	case p := <-m.got:
		if p == nil {
			t.Fatal("received a nil payload")
		}
		return string(p)
	case <-time.After(testserver.ReadTimeout):
		t.Fatal("no result before timeout")
	}
	return ""
}

// TestEventWithoutRenderingIsNotSent: an event the group's renderer gives
// no rendering for is skipped live, and ends a replay there (a subscriber
// of its own stops there too); no member receives an empty result.
func TestEventWithoutRenderingIsNotSent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		st := srv.App.Store
		keys := auth.NewService(st, auth.NewTokens(srv.App.Config.JWTSecret), srv.App.Config.Now)
		t.Cleanup(keys.Close)
		subs := live.NewSubscriptions(srv.App.Feed, st, live.Services{Authz: project.NewAuthorizer(st), Keys: keys,
			Approvals: srv.App.Approvals}, live.Options{})
		p, err := keys.Authenticate(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(auth.WithPrincipal(context.Background(), p, nil))
		newRenderer := func() live.Renderer[[]byte] { return skipRenderer{} }
		join := func(after *string) *chanMember {
			t.Helper()
			m := newChanMember()
			start, err := subs.ShareProjectEvents(ctx, pid, nil, after, "skip", newRenderer, m)
			if err != nil {
				t.Fatal(err)
			}
			start()
			return m
		}

		livePart := join(nil) // subscribed before anything is recorded
		first := srv.Record(pid, event.ApprovalCreated)
		srv.Record(pid, event.ApprovalExpired)
		third := srv.Record(pid, event.ApprovalCreated)
		zero := "0"
		for _, want := range []event.Event{first, third} {
			if got := livePart.next(t); got != id(want) {
				t.Fatalf("live: got %s, want %d", got, want.ID)
			}
		}
		replaying := join(&zero)
		if got := replaying.next(t); got != id(first) {
			t.Fatalf("replayed %s, want %d", got, first.ID)
		}
		a := srv.Record(pid, event.ApprovalCreated)
		srv.Record(pid, event.ApprovalExpired)
		b := srv.Record(pid, event.ApprovalCreated)
		for _, want := range []event.Event{a, b} {
			if got := livePart.next(t); got != id(want) {
				t.Fatalf("live: got %s, want %d", got, want.ID)
			}
		}
		// The group delivered b to every member before the live one got
		// it: the replay that stopped holds it back and sends nothing.
		select {
		case p := <-replaying.got:
			t.Fatalf("the stopped replay sent %q", p)
		default:
		}
		cancel()
		for _, m := range []*chanMember{replaying, livePart} {
			if err := <-m.ended; err != nil {
				t.Fatalf("ended with %v, want nil", err)
			}
		}
	})
}
