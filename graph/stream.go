package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ottr/backend/internal/realtime/gqlws"
	"github.com/ottr/backend/internal/realtime/live"
)

// Subscriptions run a domain stream (live.Stream) and hand its values to
// gqlgen on a channel. When the stream fails (credentials revoked, too
// slow, shutdown) the client gets the error as the last result, followed by
// the end of the stream, the same way over websockets and SSE: gqlgen's
// own subscription errors exist for websockets only.

type streamEndKey struct{}

// streamEnd carries why a subscription's stream failed from the resolver's
// goroutine to the response middleware (endStreamWithError).
type streamEnd struct {
	mu  sync.Mutex
	err error
}

// withStreamEnd prepares a subscription operation's context.
func withStreamEnd(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamEndKey{}, &streamEnd{})
}

// takeStreamError returns, once, the error a subscription's stream failed
// with.
func takeStreamError(ctx context.Context) error {
	end, ok := ctx.Value(streamEndKey{}).(*streamEnd)
	if !ok {
		return nil
	}
	end.mu.Lock()
	defer end.mu.Unlock()
	err := end.err
	end.err = nil
	return err
}

// subscribe runs stream, converting its values with convert, on the
// channel gqlgen reads. The goroutine ends with the stream: when the client
// unsubscribes or disconnects (ctx), or when the stream fails.
func subscribe[D, M any](ctx context.Context, stream live.Stream[D], convert func(D) M) <-chan M {
	out := make(chan M)
	go func() {
		defer close(out)
		err := stream(ctx, func(v D) bool {
			select {
			case out <- convert(v):
				return true
			case <-ctx.Done():
				return false
			}
		})
		if err != nil && ctx.Err() == nil {
			if end, ok := ctx.Value(streamEndKey{}).(*streamEnd); ok {
				end.mu.Lock()
				end.err = err
				end.mu.Unlock()
			}
		}
	}()
	return out
}

// endStreamWithError turns the end of a failed stream into a last result
// carrying the error.
func endStreamWithError(present func(context.Context, error) error) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp != nil {
			return resp
		}
		if err := takeStreamError(ctx); err != nil {
			if stream := gqlws.StreamFor(ctx); stream != nil && live.TokenExpired(err) {
				// graphql-transport-ws: the connection closes for the
				// client to reconnect with a fresh token.
				stream.CloseExpired()
				return nil
			}
			graphql.AddError(ctx, present(ctx, err))
			return &graphql.Response{Errors: graphql.GetErrors(ctx)}
		}
		return nil
	}
}
