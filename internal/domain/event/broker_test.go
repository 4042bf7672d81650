package event

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"
)

func quietBroker(buffer int) *Broker {
	return NewBroker(BrokerOptions{Buffer: buffer, Logger: slog.New(slog.DiscardHandler)})
}

func ids(es []Event) string {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return fmt.Sprint(ids)
}

func ev(id int64, project string, typ Type) Event {
	return Event{ID: id, ProjectID: project, Type: typ}
}

// drain reads n events from s or fails after a timeout.
func drain(t *testing.T, s *Subscription, n int) []Event {
	t.Helper()
	got := make([]Event, 0, n)
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case e, ok := <-s.C():
			if !ok {
				t.Fatalf("channel closed after %d of %d events: %v", len(got), n, s.Err())
			}
			got = append(got, *e)
		case <-timeout:
			t.Fatalf("received %d of %d events before timeout", len(got), n)
		}
	}
	return got
}

// waitClosed waits for s's channel to close, discarding buffered events,
// and returns Err.
func waitClosed(t *testing.T, s *Subscription) error {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return s.Err()
			}
		case <-timeout:
			t.Fatal("subscription not closed before timeout")
		}
	}
}

func (b *Broker) subscribers(project string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byProject[project])
}

func TestBrokerPreservesOrder(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	s := b.Subscribe(t.Context(), Filter{ProjectID: "p"}, 100)
	for i := range int64(100) {
		b.Publish(ev(i, "p", ApprovalCreated))
	}
	for i, e := range drain(t, s, 100) {
		if e.ID != int64(i) {
			t.Fatalf("event %d has ID %d; want publish order", i, e.ID)
		}
	}
}

func TestBrokerFilters(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	all := b.Subscribe(t.Context(), Filter{ProjectID: "p"}, 0)
	locks := b.Subscribe(t.Context(), Filter{ProjectID: "p", Types: []Type{TokenLocked, PinFailed}}, 0)
	other := b.Subscribe(t.Context(), Filter{ProjectID: "q"}, 0)

	b.Publish(ev(1, "p", ApprovalCreated))
	b.Publish(ev(2, "p", PinFailed))
	b.Publish(ev(3, "q", ApprovalExecuted))
	b.Publish(ev(4, "p", TokenLocked))
	b.Publish(ev(5, "r", TokenLocked))

	for _, tc := range []struct {
		name string
		s    *Subscription
		want string
	}{
		{"all types", all, "[1 2 4]"},
		{"some types", locks, "[2 4]"},
		{"other project", other, "[3]"},
	} {
		if got := ids(drain(t, tc.s, len(tc.s.C()))); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBrokerManySubscribers(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	const subs, events = 500, 50
	ss := make([]*Subscription, subs)
	for i := range ss {
		ss[i] = b.Subscribe(t.Context(), Filter{ProjectID: "p"}, 0)
	}

	// Concurrent readers and a publisher, for the race detector.
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			for i, e := range drain(t, s, events) {
				if e.ID != int64(i) {
					t.Errorf("got ID %d at %d", e.ID, i)
					return
				}
			}
		})
	}
	for i := range int64(events) {
		b.Publish(ev(i, "p", ApprovalCreated))
	}
	wg.Wait()
}

func TestBrokerDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	const buffer, events = 8, 1000
	slow := b.Subscribe(t.Context(), Filter{ProjectID: "p"}, buffer)
	fast := b.Subscribe(t.Context(), Filter{ProjectID: "p"}, buffer)

	got := make(chan []Event)
	go func() {
		var es []Event
		for e := range fast.C() {
			es = append(es, *e)
			if len(es) == events {
				break
			}
		}
		got <- es
	}()
	for i := range int64(events) {
		b.Publish(ev(i, "p", ApprovalCreated))
		// Keep the fast reader within its buffer: wait until it has caught up.
		for len(fast.C()) == buffer {
			runtime.Gosched()
		}
	}

	es := <-got
	if len(es) != events {
		t.Fatalf("fast subscriber got %d events, want %d", len(es), events)
	}
	for i, e := range es {
		if e.ID != int64(i) {
			t.Fatalf("fast subscriber got ID %d at %d", e.ID, i)
		}
	}
	if fast.Err() != nil {
		t.Errorf("fast subscriber ended: %v", fast.Err())
	}
	if err := waitClosed(t, slow); !errors.Is(err, ErrSlowSubscriber) {
		t.Errorf("slow subscriber Err = %v, want ErrSlowSubscriber", err)
	}
	if n := b.subscribers("p"); n != 1 {
		t.Errorf("%d subscribers left, want 1", n)
	}
}

func TestBrokerPublishNeverBlocks(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	stuck := b.Subscribe(t.Context(), Filter{ProjectID: "p"}, 16) // never read

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range int64(160) {
			b.Publish(ev(i, "p", ApprovalCreated))
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	if err := waitClosed(t, stuck); !errors.Is(err, ErrSlowSubscriber) {
		t.Errorf("Err = %v, want ErrSlowSubscriber", err)
	}
}

func TestBrokerContextEndsSubscription(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	ctx, cancel := context.WithCancel(t.Context())
	s := b.Subscribe(ctx, Filter{ProjectID: "p"}, 0)
	b.Publish(ev(1, "p", ApprovalCreated))
	cancel()

	if err := waitClosed(t, s); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
	if n := b.subscribers("p"); n != 0 {
		t.Errorf("%d subscribers left, want 0", n)
	}
	b.Publish(ev(2, "p", ApprovalCreated)) // must not panic on the closed channel
}

func TestBrokerContextCause(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	cause := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(t.Context())
	s := b.Subscribe(ctx, Filter{ProjectID: "p"}, 0)
	cancel(cause)
	if err := waitClosed(t, s); !errors.Is(err, cause) {
		t.Errorf("Err = %v, want %v", err, cause)
	}
}

func TestBrokerClose(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	ctx, cancel := context.WithCancel(t.Context())
	s := b.Subscribe(ctx, Filter{ProjectID: "p"}, 0)
	if s.Err() != nil {
		t.Fatalf("live subscription has Err %v", s.Err())
	}
	s.Close()
	s.Close()
	cancel() // the first reason sticks
	if err := waitClosed(t, s); !errors.Is(err, ErrSubscriptionClosed) {
		t.Errorf("Err = %v, want ErrSubscriptionClosed", err)
	}
	if n := b.subscribers("p"); n != 0 {
		t.Errorf("%d subscribers left, want 0", n)
	}
}

func TestBrokerAlreadyCancelledContext(t *testing.T) {
	t.Parallel()
	b := quietBroker(0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := b.Subscribe(ctx, Filter{ProjectID: "p"}, 0)
	if err := waitClosed(t, s); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
}

// TestBrokerConcurrentChurn publishes while subscriptions come and go by
// every route, for the race detector and the closed-channel invariant.
func TestBrokerConcurrentChurn(t *testing.T) {
	t.Parallel()
	b := quietBroker(4)
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	for range 2 {
		pubs.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
					b.Publish(ev(i, "p", ApprovalCreated))
				}
			}
		})
	}
	var subs sync.WaitGroup
	for i := range 50 {
		subs.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%5)*time.Millisecond)
			defer cancel()
			s := b.Subscribe(ctx, Filter{ProjectID: "p"}, 0)
			if i%3 == 0 {
				s.Close()
			}
			for range s.C() {
			}
			if s.Err() == nil {
				t.Error("closed subscription has nil Err")
			}
		})
	}
	subs.Wait()
	close(stop)
	pubs.Wait()
	if n := b.subscribers("p"); n != 0 {
		t.Errorf("%d subscribers left, want 0", n)
	}
}

// BenchmarkBrokerFanout2000 publishes to 2,000 subscribers of one project,
// each drained by the benchmark itself so none is dropped, and reports the
// heap cost of a subscription with the default buffer.
func BenchmarkBrokerFanout2000(b *testing.B) {
	const n = 2000
	br := quietBroker(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i] = br.Subscribe(ctx, Filter{ProjectID: "p"}, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	e := ev(1, "p", ApprovalCreated)
	for i := 0; b.Loop(); i++ {
		br.Publish(e)
		if i%DefaultBuffer == DefaultBuffer-1 {
			b.StopTimer()
			for _, s := range subs {
				for len(s.C()) > 0 {
					<-s.C()
				}
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	if got := br.subscribers("p"); got != n {
		b.Fatalf("%d subscribers left, want %d", got, n)
	}
	// Reported after the loop: b.Loop resets the timer, which drops metrics.
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/subscriber")
	runtime.KeepAlive(subs)
}
