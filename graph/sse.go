package graph

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// sse is gqlgen's server-sent events transport with keep-alives that
// cannot outlive the request: gqlgen's keep-alive goroutine (v0.17.98)
// stops on the request's context, which net/http cancels only after the
// handler has returned, so a tick in between would write to a finished
// response. Writes after Do has returned are dropped.
//
// A stream outlives the server's WriteTimeout: each write gets
// writeTimeout of its own instead, so a live stream goes on and a client
// that stops reading is dropped.
type sse struct {
	transport.SSE
	writeTimeout time.Duration
}

func (t sse) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	sw := &sseWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: t.writeTimeout}
	defer sw.finish()
	t.SSE.Do(sw, r, exec)
}

var errResponseFinished = errors.New("response finished")

type sseWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	mu       sync.Mutex
	finished bool
}

// extend gives the next write its own deadline.
func (w *sseWriter) extend() {
	// ErrNotSupported outside a real server: nothing to extend then.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
}

func (w *sseWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return 0, errResponseFinished
	}
	w.extend()
	return w.ResponseWriter.Write(b)
}

func (w *sseWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.finished {
		w.extend()
		f.Flush()
	}
}

func (w *sseWriter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
}
