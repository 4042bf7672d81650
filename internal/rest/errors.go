package rest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/ottr/backend/internal/apperr"
	"github.com/ottr/backend/internal/approval"
	"github.com/ottr/backend/internal/requestlog"
)

// errorBody is every error's JSON: {"error": {"code", "message", "field"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    apperr.Code `json:"code"`
	Message string      `json:"message"`
	Field   string      `json:"field,omitempty"`
	// RetryAfterSeconds repeats the Retry-After header of a 429.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
	// RequestID finds an INTERNAL error's request in the server's log.
	RequestID string `json:"request_id,omitempty"`
}

// statusOf is the one place where domain errors become HTTP statuses.
func statusOf(err error, e *apperr.Error) int {
	if errors.Is(err, approval.ErrRequestKeyReused) {
		return http.StatusUnprocessableEntity
	}
	switch e.Code {
	case apperr.CodeUnauthenticated:
		return http.StatusUnauthorized
	case apperr.CodeForbidden:
		return http.StatusForbidden
	case apperr.CodeNotFound:
		return http.StatusNotFound
	case apperr.CodeBadUserInput:
		return http.StatusBadRequest
	case apperr.CodeConflict:
		// An approval that expired, was withdrawn or locked is gone for
		// good; an executed one, or a state that may still change, is a
		// conflict.
		if st, ok := approval.ClosedStatus(err); ok && st != approval.Executed {
			return http.StatusGone
		}
		return http.StatusConflict
	case apperr.CodeRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// writeError answers with err: a domain error with its code, status and
// message; anything else as INTERNAL, logged and never shown.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := apperr.As(err)
	if !ok {
		a.logError(r.Context(), r, err)
		e = &apperr.Error{Code: apperr.CodeInternal, Message: "internal error"}
	}
	status := statusOf(err, e)
	detail := errorDetail{Code: e.Code, Message: e.Message, Field: snakeCase(e.Field)}
	if be := (*bodyError)(nil); errors.As(err, &be) {
		detail.Field = e.Field // named as in the body already
	}
	if e.Code == apperr.CodeInternal {
		detail.RequestID = requestlog.ID(r.Context())
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="ottr"`)
	case http.StatusTooManyRequests:
		detail.RetryAfterSeconds = max(1, int(math.Ceil(e.RetryAfter.Seconds())))
		w.Header().Set("Retry-After", strconv.Itoa(detail.RetryAfterSeconds))
	}
	writeJSON(w, status, errorBody{Error: detail})
}

func (a *API) logError(ctx context.Context, r *http.Request, err error) {
	a.logger.ErrorContext(ctx, "REST request failed", "route", r.Pattern, "request_id", requestlog.ID(ctx), "err", err)
}

// snakeCase turns the domain's field names (keyPath, ttlSeconds) into the
// API's (key_path, ttl_seconds); others (Idempotency-Key) stay.
func snakeCase(field string) string {
	if field == "" || strings.ContainsAny(field, "-_ ") {
		return field
	}
	var b strings.Builder
	for i, c := range field {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func unknownRoute(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Code: apperr.CodeNotFound,
		Message: "no such endpoint: " + r.Method + " " + r.URL.EscapedPath() + " (see /v1/openapi.json)"}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
