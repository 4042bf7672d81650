package rest

import (
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

// statusOf refines the code's status (apperr.Code.Status) where REST says
// more: a reused request key is 422, an approval gone for good 410.
func statusOf(err error, e *apperr.Error) int {
	if errors.Is(err, approval.ErrRequestKeyReused) {
		return http.StatusUnprocessableEntity
	}
	if e.Code == apperr.CodeConflict {
		// An approval that expired, was withdrawn or locked is gone for
		// good; an executed one, or a state that may still change, is a
		// conflict.
		if st, ok := approval.ClosedStatus(err); ok && st != approval.Executed {
			return http.StatusGone
		}
	}
	return e.Code.Status()
}

// writeError answers with err: a domain error with its code, status and
// message; anything else as INTERNAL, logged and never shown.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.Present(r.Context(), a.logger, "REST request", err, "route", r.Pattern, "request_id", requestlog.ID(r.Context()))
	_, named := errors.AsType[*bodyError](err) // named as in the body already
	writeProblem(w, r, statusOf(err, e), e, named, true)
}

// WriteError is REST's apperr.Writer: the middleware in front of every
// surface answers requests under /v1/ through it. Its refusals are of the
// request as a whole (a body too large, a path with dot segments), so a
// problem list is given only for a named field.
func WriteError(w http.ResponseWriter, r *http.Request, status int, e *apperr.Error) {
	writeProblem(w, r, status, e, false, e.Field != "" || len(e.Problems) > 0)
}

// writeProblem writes e as REST's error body; named says its fields are
// in REST's names already, else they are renamed (restNames); problems
// says a BAD_USER_INPUT answer lists them.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, e *apperr.Error, named, problems bool) {
	detail := errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
	if !named {
		detail.Field, detail.Message = restNames(e.Field, e.Message)
	}
	if e.Code == apperr.CodeBadUserInput && problems {
		list := e.Problems
		if len(list) == 0 {
			list = []*apperr.Error{e}
		}
		for _, p := range list {
			field, msg := p.Field, p.Message
			if !named {
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
