// Package apperr defines the errors that domain packages return to callers.
// Each carries one of the API's error codes and a message that is safe to
// show; anything else that reaches the API boundary is reported as INTERNAL.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code is one of the error codes of the API contract.
type Code string

const (
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeBadUserInput    Code = "BAD_USER_INPUT"
	CodeConflict        Code = "CONFLICT"
	CodeRateLimited     Code = "RATE_LIMITED"
	CodeInternal        Code = "INTERNAL"

	// Codes of the GraphQL layer, for requests that never reach a resolver
	// or subscriptions the server ends.
	CodeComplexityLimitExceeded Code = "COMPLEXITY_LIMIT_EXCEEDED" // complexity, depth or parser-token limit
	CodeParseFailed             Code = "GRAPHQL_PARSE_FAILED"
	CodeValidationFailed        Code = "GRAPHQL_VALIDATION_FAILED"
	CodePersistedQueryNotFound  Code = "PERSISTED_QUERY_NOT_FOUND"
	CodeShuttingDown            Code = "SHUTTING_DOWN"          // a subscription ends because the server stops
	CodeTooManySubscriptions    Code = "TOO_MANY_SUBSCRIPTIONS" // a websocket already holds its limit of subscriptions
)

// Error is a domain error with a code and a message that may be shown.
type Error struct {
	Code       Code
	Message    string
	Field      string        // BAD_USER_INPUT: the input field at fault
	RetryAfter time.Duration // RATE_LIMITED: when to try again
	// Problems are every validation failure of one input, when there are
	// several (see Problems); the error's own Field and Message are the
	// first one's.
	Problems []*Error
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match any error with that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Unauthenticated reports missing or bad credentials.
func Unauthenticated(msg string) *Error {
	if msg == "" {
		msg = "authentication required"
	}
	return &Error{Code: CodeUnauthenticated, Message: msg}
}

// Forbidden reports that the caller's role or key scope does not allow it.
func Forbidden(msg string) *Error {
	if msg == "" {
		msg = "not allowed for your role or key scope"
	}
	return &Error{Code: CodeForbidden, Message: msg}
}

// NotFound reports that no such object exists for this caller.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// Invalid reports a validation failure of one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports that the current state does not allow the operation.
func Conflict(format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

// RateLimited reports too many requests.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Code: CodeRateLimited, Message: "too many requests, try again later", RetryAfter: retryAfter}
}

// As returns the domain error inside err, if there is one.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// CodeOf returns the code of err, INTERNAL for anything that is not a
// domain error.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return CodeInternal
}
