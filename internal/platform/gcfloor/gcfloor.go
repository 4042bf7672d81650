// Package gcfloor puts a floor under the garbage collector's heap goal.
//
// The server's live heap is small, tens of MB, while a busy instance
// allocates hundreds of MB a second (a dashboard page of 100 approvals is
// 2.3 MB through gqlgen's executor). With GOGC=100 the collector then runs
// every few MB allocated: a page's server CPU fell by about 40 % with the
// floor (BENCHMARKS.md).
// Raising GOGC for everyone would multiply the memory of an instance whose
// live heap is large (10,000 live subscribers hold hundreds of MB). The
// floor does neither: while the live heap is under half the floor the goal
// is the floor, and above that it is GOGC=100's, twice the live heap.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Start keeps the heap goal at floor bytes or more, by setting the GC
// percentage after every collection from the live heap it left, until
// stop is called; stop sets it back to 100.
func Start(floor uint64) (stop func()) {
	t := &tuner{floor: floor}
	t.tune()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(100)
	}
}

type tuner struct {
	floor   uint64
	mu      sync.Mutex
	stopped bool
	percent int
}

// cycle is garbage made to be collected: its finalizer runs once after
// the collection that finds it, and arms the next one. It is larger than
// the tiny allocations whose finalizers may never run.
type cycle struct{ _ [64]byte }

func (t *tuner) arm() {
	runtime.SetFinalizer(&cycle{}, func(*cycle) {
		if t.tune() {
			t.arm()
		}
	})
}

// tune sets the GC percentage for the live heap that the last collection
// left; false once stopped.
func (t *tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	if p := percentFor(liveHeap(), t.floor); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// percentFor is the GC percentage whose goal for a live heap of live
// bytes is floor, and never under 100.
func percentFor(live, floor uint64) int {
	live = max(live, 1<<20) // before the first collection, or next to nothing
	if 2*live >= floor {
		return 100
	}
	return int(floor*100/live) - 100
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
