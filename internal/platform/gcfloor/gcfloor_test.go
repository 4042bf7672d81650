package gcfloor

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentForKeepsTheGoalAtTheFloor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{live: 16 * mib, floor: 128 * mib, want: 700},  // goal 16 × 8 = 128
		{live: 32 * mib, floor: 128 * mib, want: 300},  // goal 32 × 4 = 128
		{live: 64 * mib, floor: 128 * mib, want: 100},  // half the floor: GOGC=100's goal is the floor
		{live: 500 * mib, floor: 128 * mib, want: 100}, // a large heap keeps GOGC=100
		{live: 0, floor: 128 * mib, want: 12700},       // no collection yet: counted as 1 MiB
	} {
		if got := percentFor(c.live, c.floor); got != c.want {
			t.Errorf("percentFor(%d MiB, %d MiB) = %d, want %d", c.live/mib, c.floor/mib, got, c.want)
		}
	}
}

// After each collection the goal follows the live heap: the floor while
// the heap is small, twice the heap once it outgrows half the floor, and
// GOGC=100 again once stopped.
func TestGoalFollowsTheLiveHeap(t *testing.T) {
	const floor = 256 << 20
	stop := Start(floor)

	collectUntil(t, "the goal reaches the floor", func() bool { return goal() >= floor*9/10 && gogc() > 100 })

	big := make([]byte, floor) // a live heap over half the floor
	collectUntil(t, "GOGC=100 for a large heap", func() bool { return gogc() == 100 })
	runtime.KeepAlive(big)
	big = nil

	collectUntil(t, "the floor again once the heap is small", func() bool { return gogc() > 100 })

	stop()
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC %d after stop, want 100", p)
	}
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // the finalizer of a stopped tuner runs and changes nothing
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC %d after a collection once stopped, want 100", p)
	}
}

// collectUntil collects until ok holds (the tuner runs on the finalizer
// goroutine after each collection), for up to 10 s.
func collectUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: GOGC %d, goal %d MiB, live %d MiB", what, gogc(), goal()>>20, liveHeap()>>20)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func gogc() int { return int(read("/gc/gogc:percent")) }

func goal() uint64 { return read("/gc/heap/goal:bytes") }

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
