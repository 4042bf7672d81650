package rest

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/ottr/backend/internal/platform/apperr"
)

// decodeJSON reads one JSON value into v, strictly: every REST body goes
// through here. Field names match exactly (KEY_PATH is not key_path), a
// name given twice, an unknown field, a \u escape of a lone UTF-16
// surrogate (which would silently become U+FFFD), bytes that are not
// UTF-8 and anything after the value are refused. The decoder makes one
// pass over the body, so the work is linear in its size. optional lets
// an empty body stand for {}.
func decodeJSON(body []byte, v any, optional bool) error {
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	// RejectUnknownMembers; exact names, unique names and valid UTF-8
	// (escapes included) are the decoder's defaults.
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return &bodyError{jsonError(err)}
	}
	return nil
}

// bodyError is a decoding error; its field is already named as in the
// body, and not renamed by writeError.
type bodyError struct{ err *apperr.Error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// jsonError explains a decoding failure, naming the field at fault,
// without echoing the body.
func jsonError(err error) *apperr.Error {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &syn):
		field := fieldOf(syn.JSONPointer)
		switch text := syn.Err.Error(); {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return apperr.Invalid(field, "%s is given twice; give each field once", field)
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			return apperr.Invalid("body", "the request body is empty or cut short; send a JSON object")
		case strings.Contains(text, "surrogate"):
			return apperr.TextLoneSurrogate.Refusal(orBody(field), inBody(field))
		case strings.Contains(text, "escape"):
			return apperr.Invalid(orBody(field), "%s holds an invalid escape sequence", inBody(field))
		case strings.Contains(text, "UTF-8"):
			return apperr.TextNotUTF8.Refusal(orBody(field), inBody(field))
		case strings.Contains(text, "max depth"):
			return apperr.Invalid("body", "the request body nests arrays or objects too deeply")
		case strings.Contains(text, "after top-level value"):
			return apperr.Invalid("body", "the request body must hold one JSON value")
		}
		return apperr.Invalid("body", "the request body is not valid JSON (at byte %d)", syn.ByteOffset)
	case errors.As(err, &sem):
		field := fieldOf(sem.JSONPointer)
		if errors.Is(sem.Err, json.ErrUnknownName) {
			if known := sameNameButCase(sem.GoType, sem.JSONPointer.LastToken()); known != "" {
				return apperr.Invalid(field, "unknown field %q: field names are case-sensitive; did you mean %q?", sem.JSONPointer.LastToken(), known)
			}
			return apperr.Invalid(field, "unknown field %q", sem.JSONPointer.LastToken())
		}
		if field == "" {
			return apperr.Invalid("body", "the request body must be a JSON %s", jsonKind(sem.GoType))
		}
		return apperr.Invalid(field, "%s must be a JSON %s", field, jsonKind(sem.GoType))
	}
	return apperr.Invalid("body", "the request body is not valid JSON")
}

// fieldOf names the member a JSON pointer points at: key_path, or
// actions[0].key inside an array; "" for the whole body.
func fieldOf(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func orBody(field string) string {
	if field == "" {
		return "body"
	}
	return field
}

func inBody(field string) string {
	if field == "" {
		return "the request body"
	}
	return field
}

// sameNameButCase returns the JSON name of t's field that name matches
// but for case, if any.
func sameNameButCase(t reflect.Type, name string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" && strings.EqualFold(tag, name) {
			return tag
		}
	}
	return ""
}

// jsonKind names the JSON type that a Go type takes.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "value of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value of another type"
}
