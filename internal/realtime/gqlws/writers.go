package gqlws

import (
	"runtime"
	"sync"
)

// writers write for every connection of the transport: a connection with
// messages queued waits in line for one of a few shared goroutines, which
// writes all its messages at once. A published event makes thousands of
// connections ready at the same moment; with a goroutine per connection,
// thousands of goroutines would become runnable, and every other
// goroutine of the process (a request's, between two database round
// trips) would wait behind all of them. The writers leave the scheduler a
// short line, and yield to it regularly. They exist only while there is
// something to write.
type writers struct {
	max int // goroutines at most

	mu      sync.Mutex
	ready   []*conn
	running int
}

// yieldEvery is how many connections a writer serves between two yields.
const yieldEvery = 32

// schedule puts c in line; c.writing must be set (a connection is in line
// once at most).
func (w *writers) schedule(c *conn) {
	w.mu.Lock()
	w.ready = append(w.ready, c)
	start := w.running < w.max
	if start {
		w.running++
	}
	w.mu.Unlock()
	if start {
		go w.run()
	}
}

func (w *writers) run() {
	var scratch []byte // where a connection's messages are framed
	for {
		w.mu.Lock()
		n := min(len(w.ready), yieldEvery)
		if n == 0 {
			w.running--
			w.mu.Unlock()
			return
		}
		batch := make([]*conn, n)
		copy(batch, w.ready)
		clear(w.ready[:n])
		w.ready = w.ready[n:]
		if len(w.ready) == 0 {
			w.ready = nil
		}
		w.mu.Unlock()
		for _, c := range batch {
			scratch = c.flush(scratch)
		}
		if cap(scratch) > 64<<10 {
			scratch = nil
		}
		runtime.Gosched()
	}
}
