package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// benchSubscribers is the audience of every fan-out benchmark.
const benchSubscribers = 2000

// audience is benchSubscribers websocket clients in this process, each
// reading on its own goroutine and reporting when a "next" message
// arrives, measured from the moment the publisher stored in t0.
type audience struct {
	conns    []*websocket.Conn
	arrivals chan time.Duration
	t0       atomic.Int64 // UnixNano of the last publish
	readers  sync.WaitGroup
}

func newAudience() *audience {
	return &audience{arrivals: make(chan time.Duration, benchSubscribers)}
}

// add starts reading conn.
func (a *audience) add(conn *websocket.Conn) {
	conn.SetReadLimit(1 << 20)
	a.conns = append(a.conns, conn)
	a.readers.Go(func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			if bytes.Contains(b, []byte(`"type":"next"`)) {
				a.arrivals <- time.Duration(time.Now().UnixNano() - a.t0.Load())
			}
		}
	})
}

// await collects one arrival per subscriber.
func (a *audience) await(tb testing.TB, into []time.Duration) []time.Duration {
	timeout := time.After(60 * time.Second)
	for range len(a.conns) {
		select {
		case d := <-a.arrivals:
			into = append(into, d)
		case <-timeout:
			tb.Fatalf("only %d of %d subscribers received the event", len(into), len(a.conns))
		}
	}
	return into
}

func (a *audience) close() {
	for _, c := range a.conns {
		_ = c.CloseNow()
	}
	a.readers.Wait()
}

// heapAndStacks is the memory that grows with connections: heap objects
// and goroutine stacks.
func heapAndStacks() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// fanout runs publish once per iteration and reports the delivery latency
// percentiles over every subscriber and iteration, and the memory each
// subscriber added (connect measures it: it connects the audience).
func fanout(b *testing.B, connect func() *audience, publish func(i int)) {
	before := heapAndStacks()
	a := connect()
	defer a.close()
	perSubscriber := float64(heapAndStacks()-before) / benchSubscribers

	var latencies []time.Duration
	for i := 0; b.Loop(); i++ {
		a.t0.Store(time.Now().UnixNano())
		publish(i)
		latencies = a.await(b, latencies)
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(perSubscriber, "bytes/subscriber")
}

// BenchmarkFanout2000 measures, at 2,000 websocket subscribers of one
// project, how long an event takes from publication to every subscriber
// and what a subscriber costs in memory:
//
//   - record/<db>: through the whole server, from Recorder.Record (insert,
//     commit, and on PostgreSQL NOTIFY and the listener's read) to the
//     graphql-transport-ws "next" message on each client;
//   - broker/<db>: the same server, from Broker.Publish, so without the
//     database;
//   - plain-hub: a bare coder/websocket broadcast of the same JSON, one
//     writer goroutine and a buffered channel per connection.
//
// The clients run in the same process; their memory is in every
// bytes/subscriber figure alike.
func BenchmarkFanout2000(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run("record/"+string(d), func(b *testing.B) {
			srv, pid, a := ottrAudience(b, d)
			fanout(b, a, func(int) { srv.Record(pid, event.ApprovalCreated) })
		})
		b.Run("broker/"+string(d), func(b *testing.B) {
			srv, pid, a := ottrAudience(b, d)
			fanout(b, a, func(i int) {
				// Past every recorded event's position on both databases
				// (PostgreSQL orders by transaction ID first), so no
				// subscription takes it for one it has already sent.
				srv.App.Feed.Broker().Publish(event.Event{Xid: 1 << 40, ID: 1<<40 + int64(i), Type: event.ApprovalCreated, ProjectID: pid,
					KeyPath: "deploy/approval_created", OccurredAt: store.Now()})
			})
		})
	}
	b.Run("plain-hub", func(b *testing.B) {
		hub := &plainHub{conns: map[*plainConn]struct{}{}}
		ts := httptest.NewServer(hub)
		defer ts.Close()
		msg := sameJSON()
		fanout(b, func() *audience {
			a := newAudience()
			for range benchSubscribers {
				conn, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
				if err != nil {
					b.Fatal(err)
				}
				a.add(conn)
			}
			for hub.size() < benchSubscribers {
				time.Sleep(time.Millisecond)
			}
			return a
		}, func(int) { hub.broadcast(msg) })
		hub.closeAll()
	})
}

const benchQuery = `subscription($p: ID!, $a: ID) { projectEvents(projectId: $p, after: $a) { id type projectId keyPath occurredAt } }`

// ottrAudience starts a server and returns a connect function that
// subscribes benchSubscribers websockets to one project's events and
// waits until each has received a first event.
func ottrAudience(b *testing.B, d store.Dialect) (*testserver.Server, string, func() *audience) {
	srv := testserver.Start(b, d, func(c *config.Config) {
		c.Live.KeepAlive = time.Hour
		c.Live.Recheck = time.Hour
		// One key and one address hold the whole audience.
		c.Live.Limits = config.LiveLimits{ConnectionsPerPrincipal: benchSubscribers, SubscriptionsPerPrincipal: benchSubscribers,
			ConnectionsPerAddress: benchSubscribers, SubscriptionsPerAddress: benchSubscribers}
	})
	alice := srv.SignUp("Alice")
	pid := alice.CreateProject("Bench")
	_, key := alice.CreateAPIKey(pid, "READ")
	return srv, pid, func() *audience {
		a := newAudience()
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/query"
		init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + key}})
		sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1",
			"payload": map[string]any{"query": benchQuery, "variables": map[string]any{"p": pid, "a": "0"}}})
		for range benchSubscribers {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{testserver.TransportWS}})
			if err == nil {
				err = conn.Write(ctx, websocket.MessageText, init)
			}
			if err == nil {
				_, _, err = conn.Read(ctx) // connection_ack
			}
			if err == nil {
				err = conn.Write(ctx, websocket.MessageText, sub)
			}
			cancel()
			if err != nil {
				b.Fatalf("subscribe: %v", err)
			}
			a.add(conn)
		}
		// Replayed or live, the first event reaches every subscription.
		srv.Record(pid, event.ApprovalCreated)
		a.await(b, nil)
		return a
	}
}

// sameJSON is the message the server sends for one event.
func sameJSON() []byte {
	data, _ := json.Marshal(map[string]any{"projectEvents": map[string]any{"id": "123", "type": "APPROVAL_CREATED",
		"projectId": "0197a5d2-7e43-7c3e-9b4a-2f1c6d8e9a01", "keyPath": "deploy/approval_created", "occurredAt": store.Now()}})
	msg, _ := json.Marshal(map[string]any{"id": "1", "type": "next", "payload": map[string]json.RawMessage{"data": data}})
	return msg
}

// plainHub is the baseline: a websocket broadcast with nothing else.
type plainHub struct {
	mu    sync.Mutex
	conns map[*plainConn]struct{}
	wg    sync.WaitGroup
}

type plainConn struct {
	conn *websocket.Conn
	send chan []byte
}

func (h *plainHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &plainConn{conn: conn, send: make(chan []byte, 16)}
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	ctx := conn.CloseRead(context.Background())
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				_ = conn.CloseNow()
				return
			}
			if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
				return
			}
		case <-ctx.Done():
			h.remove(c)
			return
		}
	}
}

func (h *plainHub) remove(c *plainConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; ok {
		delete(h.conns, c)
		close(c.send)
	}
}

func (h *plainHub) size() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// broadcast never blocks: a full connection is dropped.
func (h *plainHub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		select {
		case c.send <- msg:
		default:
			delete(h.conns, c)
			close(c.send)
		}
	}
}

func (h *plainHub) closeAll() {
	h.mu.Lock()
	for c := range h.conns {
		delete(h.conns, c)
		close(c.send)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// BenchmarkRecordToBroker measures what the publication path costs one
// event: from Recorder.Record to the broker's subscriber, next to how long
// Record itself takes (insert and commit). On SQLite the event is
// published from the commit; on PostgreSQL it goes through NOTIFY, the
// listener's connection and a read of the events table.
func BenchmarkRecordToBroker(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			srv := testserver.Start(b, d)
			alice := srv.SignUp("Alice")
			pid := alice.CreateProject("Bench")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub := srv.App.Feed.Subscribe(ctx, event.Filter{ProjectID: pid}, 0)
			var delivered, recorded []time.Duration
			for b.Loop() {
				ev := event.Event{Type: event.ApprovalCreated, ProjectID: pid, KeyPath: "deploy"}
				start := time.Now()
				if err := srv.App.Recorder.Record(ctx, &ev); err != nil {
					b.Fatal(err)
				}
				recorded = append(recorded, time.Since(start))
				select {
				case got := <-sub.C():
					delivered = append(delivered, time.Since(start))
					if got.ID != ev.ID {
						b.Fatalf("got event %d, want %d", got.ID, ev.ID)
					}
				case <-time.After(10 * time.Second):
					b.Fatal("event not delivered")
				}
			}
			b.StopTimer()
			median := func(ds []time.Duration) float64 {
				slices.Sort(ds)
				return float64(ds[len(ds)/2].Microseconds())
			}
			b.ReportMetric(median(recorded), "record-µs")
			b.ReportMetric(median(delivered), "delivered-µs")
		})
	}
}

// BenchmarkRecordConcurrently records from 16 goroutines at once, each
// event its own transaction; recording takes no lock (see event.Recorder),
// so this is how fast one database commits events side by side.
func BenchmarkRecordConcurrently(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			srv := testserver.Start(b, d)
			pid := srv.SignUp("Alice").CreateProject("Bench")
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ev := event.Event{Type: event.ApprovalCreated, ProjectID: pid, KeyPath: "deploy"}
					if err := srv.App.Recorder.Record(context.Background(), &ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
