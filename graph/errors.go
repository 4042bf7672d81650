package graph

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/requestlog"
)

// gqlgenCodes are the codes gqlgen's executor and extensions (and ours
// that run as gqlgen extensions) set on the errors they report; they are
// kept as they are.
var gqlgenCodes = map[string]apperr.Code{
	errcode.ParseFailed:                        apperr.CodeParseFailed,
	errcode.ValidationFailed:                   apperr.CodeValidationFailed,
	string(apperr.CodeComplexityLimitExceeded): apperr.CodeComplexityLimitExceeded,
	string(apperr.CodePersistedQueryNotFound):  apperr.CodePersistedQueryNotFound,
	string(apperr.CodeBadUserInput):            apperr.CodeBadUserInput,
	string(apperr.CodeTooManySubscriptions):    apperr.CodeTooManySubscriptions,
	string(apperr.CodeShuttingDown):            apperr.CodeShuttingDown,
}

// gqlgenCode is the code of an error that gqlgen reported itself. The
// parser's token limit is a cost limit, not a syntax error, although the
// parser reports it as one. What has no known code (argument coercion) is
// the client's input.
func gqlgenCode(gqlErr *gqlerror.Error) apperr.Code {
	code, _ := gqlErr.Extensions["code"].(string)
	if code == errcode.ParseFailed && strings.HasPrefix(gqlErr.Message, "exceeded token limit") ||
		code == errcode.ValidationFailed && gqlErr.Rule == overlapRule && strings.HasPrefix(gqlErr.Message, overlapRefusal) {
		return apperr.CodeComplexityLimitExceeded
	}
	if c, ok := gqlgenCodes[code]; ok {
		return c
	}
	return apperr.CodeBadUserInput
}

// aroundFields is every field's one interceptor. A client that has gone
// (its request's context is cancelled) reads nothing more: nothing more is
// resolved for it. A field's error is made safe to show (safe); an input
// with several validation problems is answered with one GraphQL error per
// problem (listProblems); with introspection off, gqlgen's plain refusal of
// an introspection field becomes the client's BAD_USER_INPUT. A field
// without an error costs one check of the context. A struct's own field
// never comes here (resolveFieldValue): only fields with a resolver or a
// method, the ones that can wait, do.
func aroundFields(introspection bool, safe func(context.Context, error, string) error) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		if ctx.Err() != nil {
			return nil, errClientGone
		}
		res, err := next(ctx)
		if err == nil {
			return res, nil
		}
		err = listProblems(ctx, err)
		fc := graphql.GetFieldContext(ctx)
		if !introspection && isIntrospection(fc) {
			// gqlgen refuses with a plain error; it is the client's request
			// that the server does not serve, not a failure.
			return res, &apperr.Error{Code: apperr.CodeBadUserInput, Message: "introspection is disabled on this server"}
		}
		return res, safe(ctx, err, fc.Path().String())
	}
}

// listProblems answers an input with several validation problems with one
// GraphQL error per problem, each with its own extensions.field, in the
// order the domain found them: it adds all but the last, which it returns
// for the field to fail with.
func listProblems(ctx context.Context, err error) error {
	if e, ok := apperr.As(err); ok && len(e.Problems) > 1 {
		// gqlgen adds the returned error after those added here.
		last := len(e.Problems) - 1
		for _, p := range e.Problems[:last] {
			graphql.AddError(ctx, p)
		}
		return e.Problems[last]
	}
	return err
}

type retryAfterKey struct{}

// retryAfter is the longest wait a RATE_LIMITED error of one request asked
// for, in seconds.
type retryAfter struct {
	mu      sync.Mutex
	seconds int
}

// noteRetryAfter records a RATE_LIMITED error's wait for the HTTP answer's
// Retry-After header.
func noteRetryAfter(ctx context.Context, seconds int) {
	if ra, ok := ctx.Value(retryAfterKey{}).(*retryAfter); ok {
		ra.mu.Lock()
		ra.seconds = max(ra.seconds, seconds, 1)
		ra.mu.Unlock()
	}
}

// withRetryAfter adds Retry-After to GraphQL-over-HTTP answers that carry
// a RATE_LIMITED error, as HTTP clients and proxies expect besides
// extensions.retryAfterSeconds. gqlgen's HTTP transports write the status
// after the operation ran, so the header can still be set then.
// Websockets and event streams have no answer to add it to.
func withRetryAfter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		ra := &retryAfter{}
		ctx := context.WithValue(r.Context(), retryAfterKey{}, ra)
		next.ServeHTTP(&retryAfterWriter{ResponseWriter: w, ra: ra}, r.WithContext(ctx))
	})
}

type retryAfterWriter struct {
	http.ResponseWriter
	ra      *retryAfter
	written bool
}

func (w *retryAfterWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.ra.mu.Lock()
		if s := w.ra.seconds; s > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(s))
		}
		w.ra.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *retryAfterWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// variableField names the variable (and the place inside it, as in
// input.actions[0].key) of an error gqlparser reported while coercing the
// variables: a validation failure whose path starts with "variable".
func variableField(gqlErr *gqlerror.Error) (string, bool) {
	if code, _ := gqlErr.Extensions["code"].(string); code != errcode.ValidationFailed ||
		len(gqlErr.Path) < 2 || gqlErr.Path[0] != ast.PathName("variable") {
		return "", false
	}
	var b strings.Builder
	for i, el := range gqlErr.Path[1:] {
		switch el := el.(type) {
		case ast.PathName:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(el))
		case ast.PathIndex:
			b.WriteString("[" + strconv.Itoa(int(el)) + "]")
		}
	}
	return b.String(), true
}

// WriteRequestError is GraphQL's apperr.Writer: a request error (no data)
// with extensions.code, the field at fault and, for INTERNAL, the request
// id. The middleware in front of /query answers through it.
func WriteRequestError(w http.ResponseWriter, r *http.Request, status int, e *apperr.Error) {
	ext := map[string]any{"code": string(e.Code)}
	if e.Field != "" {
		ext["field"] = e.Field
	}
	switch e.Code {
	case apperr.CodeInternal:
		ext["requestId"] = requestlog.ID(r.Context())
	case apperr.CodeRateLimited:
		seconds := max(1, int(math.Ceil(e.RetryAfter.Seconds())))
		ext["retryAfterSeconds"] = seconds
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeJSONBody(w, map[string]any{"errors": []map[string]any{{"message": e.Message, "extensions": ext}}})
}
