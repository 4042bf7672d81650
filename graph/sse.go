package graph

import (
	"errors"
	"net/http"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// sse is gqlgen's server-sent events transport with keep-alives that
// cannot outlive the request: gqlgen's keep-alive goroutine (v0.17.98)
// stops on the request's context, which net/http cancels only after the
// handler has returned, so a tick in between would write to a finished
// response. Writes after Do has returned are dropped.
type sse struct{ transport.SSE }

func (t sse) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	sw := &sseWriter{ResponseWriter: w}
	defer sw.finish()
	t.SSE.Do(sw, r, exec)
}

var errResponseFinished = errors.New("response finished")

type sseWriter struct {
	http.ResponseWriter
	mu       sync.Mutex
	finished bool
}

func (w *sseWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return 0, errResponseFinished
	}
	return w.ResponseWriter.Write(b)
}

func (w *sseWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.finished {
		f.Flush()
	}
}

func (w *sseWriter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
}
