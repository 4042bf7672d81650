// Package requestlog carries a request id in the context, so that every log
// line of one request can be found together.
package requestlog

import (
	"context"
	"sync"
)

type idKey struct{}

// WithID stores the request id in ctx.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// ID is the request id, or "" outside a request.
func ID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

type noteKey struct{}

// Note is what handlers tell the request's log line about the request,
// such as the GraphQL operation it ran.
type Note struct {
	mu        sync.Mutex
	operation string
}

// WithNote gives the request a note for its handlers to fill in, and
// returns it for the log line.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// SetOperation records the GraphQL operation the request runs: its type
// and the name the client gave it ("mutation Deploy", or "query"). A
// connection running several records each, comma-separated.
func SetOperation(ctx context.Context, op string) {
	n, _ := ctx.Value(noteKey{}).(*Note)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.operation == "" {
		n.operation = op
	} else if len(n.operation) < 200 {
		n.operation += ", " + op
	}
}

// Operation is what SetOperation recorded.
func (n *Note) Operation() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.operation
}
