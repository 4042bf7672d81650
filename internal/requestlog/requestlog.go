// Package requestlog carries a request id in the context, so that every log
// line of one request can be found together.
package requestlog

import "context"

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
