package apperr

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// internalMessage is all a client learns of an error that is not a domain
// error: the cause stays in the log, found by the request id.
const internalMessage = "internal error"

// Internal is the error every surface shows for a failure it must not
// describe.
func Internal() *Error { return &Error{Code: CodeInternal, Message: internalMessage} }

// Status is the HTTP status of a code, for the surfaces that answer over
// HTTP. A surface may refine it (REST answers 410 for an approval that is
// gone for good), never contradict it.
func (c Code) Status() int {
	switch c {
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeBadUserInput, CodeParseFailed, CodeValidationFailed, CodePersistedQueryNotFound, CodeComplexityLimitExceeded:
		return http.StatusBadRequest
	case CodeConflict:
		return http.StatusConflict
	case CodeRateLimited, CodeTooManySubscriptions:
		return http.StatusTooManyRequests
	case CodeShuttingDown:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Present returns what a client may see of err: the domain error itself,
// or INTERNAL for anything else, which it logs with its cause (where names
// the surface and the operation; attrs add context such as the request
// id). It logs nothing for a domain error: those are the client's answer,
// not the server's failure.
func Present(ctx context.Context, logger *slog.Logger, where string, err error, attrs ...any) *Error {
	if e, ok := As(err); ok {
		return e
	}
	if logger != nil {
		logger.ErrorContext(ctx, where+" failed", append([]any{"err", err}, attrs...)...)
	}
	return Internal()
}

// Writer answers a request with an error in one surface's shape (GraphQL's
// {"errors": […]}, REST's {"error": {…}}), with the given HTTP status.
type Writer func(w http.ResponseWriter, r *http.Request, status int, e *Error)

// Writers holds each surface's Writer by the path prefix it serves, so that
// middleware shared by every surface (body limits, UTF-8 checks, panics)
// answers a request in the shape of the API it was meant for. Surfaces
// register their own; the longest matching prefix wins, "" matches all.
type Writers struct {
	mu       sync.RWMutex
	prefixes []string
	writers  map[string]Writer
}

// Register makes w the writer of the requests whose path starts with
// prefix.
func (ws *Writers) Register(prefix string, w Writer) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.writers == nil {
		ws.writers = map[string]Writer{}
	}
	if _, known := ws.writers[prefix]; !known {
		ws.prefixes = append(ws.prefixes, prefix)
	}
	ws.writers[prefix] = w
}

// Write answers r with e, with its code's status, through the writer
// registered for its path.
func (ws *Writers) Write(w http.ResponseWriter, r *http.Request, e *Error) {
	ws.WriteStatus(w, r, e.Code.Status(), e)
}

// WriteStatus is Write with another status than the code's, for the
// transport's own refusals (413 for a body too large). With no writer for
// the path, the answer is plain text.
func (ws *Writers) WriteStatus(w http.ResponseWriter, r *http.Request, status int, e *Error) {
	if write := ws.lookup(r.URL.Path); write != nil {
		write(w, r, status, e)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(string(e.Code) + ": " + e.Message + "\n"))
}

func (ws *Writers) lookup(path string) Writer {
	if ws == nil {
		return nil
	}
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	best := -1
	var found Writer
	for _, p := range ws.prefixes {
		if strings.HasPrefix(path, p) && len(p) > best {
			best, found = len(p), ws.writers[p]
		}
	}
	return found
}
