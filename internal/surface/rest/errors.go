package rest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/requestlog"
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
	// Problems lists every invalid field of a BAD_USER_INPUT answer, in
	// the input's order; field and message repeat the first.
	Problems []problemJSON `json:"problems,omitempty"`
}

type problemJSON struct {
	Field   string `json:"field"`
	Message string `json:"message"`
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
	detail := errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
	if be := (*bodyError)(nil); !errors.As(err, &be) { // else named as in the body already
		detail.Field, detail.Message = restNames(e.Field, e.Message)
	}
	if e.Code == apperr.CodeBadUserInput {
		list := e.Problems
		if len(list) == 0 {
			list = []*apperr.Error{e}
		}
		for _, p := range list {
			field, msg := p.Field, p.Message
			if be := (*bodyError)(nil); !errors.As(err, &be) {
				field, msg = restNames(field, msg)
			}
			detail.Problems = append(detail.Problems, problemJSON{Field: field, Message: msg})
		}
		if len(list) > 1 {
			detail.Message = joinMessages(detail.Problems)
		}
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

// restNames names a domain error's field as the REST API does, in the
// field and in its message (ttlSeconds must be … becomes ttl_seconds must
// be …). Quoted text, which is what the client sent, stays as it is.
func restNames(field, msg string) (string, string) {
	rest := snakeCase(field)
	if rest == field || field == "" {
		return rest, msg
	}
	parts := strings.Split(msg, `"`)
	for i := 0; i < len(parts); i += 2 {
		parts[i] = replaceWord(parts[i], field, rest)
	}
	return rest, strings.Join(parts, `"`)
}

// replaceWord replaces old with repl where it stands as a word of its own.
func replaceWord(s, old, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		whole := (i == 0 || !isWordByte(s[i-1])) && (end == len(s) || !isWordByte(s[end]))
		b.WriteString(s[:i])
		if whole {
			b.WriteString(repl)
		} else {
			b.WriteString(old)
		}
		s = s[end:]
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func joinMessages(problems []problemJSON) string {
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "; ")
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
