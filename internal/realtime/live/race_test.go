package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestReplayRacesWritersAcrossInstances proves the replay guarantee on
// PostgreSQL: writers on two instances create approvals in several
// projects at once, while subscribers of every project hop between the
// instances, resubscribing with after set to the last ID they received
// every few events. Each subscriber's events, end to end, must be exactly
// its project's rows of the events table in log order: no gap, no
// duplicate.
func TestReplayRacesWritersAcrossInstances(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: several instances need PostgreSQL")
	}
	cfg := testserver.Config(t, store.Postgres)
	instances := []*testserver.Server{testserver.StartWith(t, cfg), testserver.StartWith(t, cfg)}
	alice := instances[0].SignUp("Alice")

	const projects, writersPerInstance, each = 4, 3, 25
	type proj struct{ id, write, read string }
	ps := make([]proj, projects)
	for i := range ps {
		ps[i].id = alice.CreateProject(fmt.Sprintf("Race %d", i))
		_, ps[i].write = alice.CreateAPIKey(ps[i].id, "WRITE")
		_, ps[i].read = alice.CreateAPIKey(ps[i].id, "READ")
	}

	// Writers start once every subscriber has subscribed.
	var subscribed sync.WaitGroup
	subscribed.Add(2 * projects)
	var writers sync.WaitGroup
	for _, p := range ps {
		for i, srv := range instances {
			for w := range writersPerInstance {
				writers.Go(func() {
					subscribed.Wait()
					c := srv.Client(p.write)
					for n := range each {
						resp := c.Do(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes"}) { approval { id } } }`,
							map[string]any{"p": p.id, "k": fmt.Sprintf("race/%d/%d/%d", i, w, n)})
						if len(resp.Errors) > 0 {
							t.Errorf("createApproval: %+v", resp.Errors)
							return
						}
					}
				})
			}
		}
	}
	// Once every writer is done, a marker ends each project's stream.
	go func() {
		writers.Wait()
		for _, p := range ps {
			ev := event.Event{Type: event.ApprovalExpired, ProjectID: p.id, KeyPath: "race/end"}
			if err := instances[1].App.Recorder.Record(context.Background(), &ev); err != nil {
				t.Errorf("record the end marker: %v", err)
			}
		}
	}()

	// Subscribers run in goroutines, not parallel subtests: go test runs
	// only -parallel of those at once, and the writers wait for them all.
	var subscribers sync.WaitGroup
	for _, p := range ps {
		for _, protocol := range []string{testserver.TransportWS, testserver.LegacyWS} {
			subscribers.Go(func() {
				got, err := resubscribing(instances, protocol, p.id, p.read, subscribed.Done)
				if err != nil {
					t.Errorf("%s subscriber of %s: %v", protocol, p.id, err)
					return
				}
				want, err := logOf(instances[0], p.id)
				if err == nil {
					err = sameLog(got, want, 2*writersPerInstance*each+1)
				}
				if err != nil {
					t.Errorf("%s subscriber of %s: %v", protocol, p.id, err)
				}
			})
		}
	}
	subscribers.Wait()
}

// sameLog compares the IDs a subscriber received with the table's.
func sameLog(got, want []string, rows int) error {
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			return fmt.Errorf("event %s received twice", id)
		}
		seen[id] = true
	}
	if len(got) != len(want) {
		return fmt.Errorf("received %d events, the table holds %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("event %d is %s, the table's is %s", i, got[i], want[i])
		}
	}
	if len(want) != rows {
		return fmt.Errorf("the table holds %d events of the project, want %d", len(want), rows)
	}
	return nil
}

// resubscribing subscribes to a project's events from the start of the
// log, alternating instances and starting over with after set to the last
// ID received every 1 to 30 events, until the end marker; it returns the
// IDs received, in order. It calls started once it has subscribed.
func resubscribing(instances []*testserver.Server, protocol, pid, key string, started func()) ([]string, error) {
	after := "0"
	var got []string
	for hop := 0; ; hop++ {
		ws, _, err := instances[hop%len(instances)].DialWS(protocol, nil)
		if err != nil {
			return nil, fmt.Errorf("hop %d: dial: %w", hop, err)
		}
		ws.Init(map[string]any{"Authorization": "Bearer " + key})
		if m, err := ws.TryRead(); err != nil || m.Type != "connection_ack" {
			return nil, fmt.Errorf("hop %d: got %+v (%v), want connection_ack", hop, m, err)
		}
		sub := ws.Subscribe(projectEvents, map[string]any{"p": pid, "a": after})
		if hop == 0 {
			started()
		}
		for range 1 + rand.IntN(30) {
			r, err := sub.TryNext()
			if err != nil {
				return nil, fmt.Errorf("hop %d after %s: %w", hop, after, err)
			}
			if r.Complete || len(r.Errors) > 0 {
				return nil, fmt.Errorf("hop %d after %s: got complete=%v errors=%+v, want an event", hop, after, r.Complete, r.Errors)
			}
			var out struct{ ProjectEvents liveEvent }
			if err := json.Unmarshal(r.Data, &out); err != nil {
				return nil, fmt.Errorf("decode %s: %w", r.Data, err)
			}
			ev := out.ProjectEvents
			got = append(got, ev.ID)
			after = ev.ID
			if ev.Type == string(event.ApprovalExpired) {
				_ = ws.Conn.Close(websocket.StatusNormalClosure, "")
				return got, nil
			}
		}
		_ = ws.Conn.Close(websocket.StatusNormalClosure, "")
	}
}

// logOf reads the IDs of a project's events from the table, in log order.
func logOf(srv *testserver.Server, pid string) ([]string, error) {
	var ids []int64
	err := srv.App.Store.DB(context.Background()).Raw(`SELECT id FROM events WHERE project_id = ? ORDER BY xid, id`, pid).Scan(&ids).Error
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out, nil
}
