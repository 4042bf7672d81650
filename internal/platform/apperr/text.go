package apperr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// TextProblem is what makes text unfit for any input: text that PostgreSQL
// cannot store and no client means to send. Every text input and ID is
// checked for them before it reaches the database, once per request at the
// edge (the GraphQL operation, the HTTP body) and again by the domain
// services for their other callers, so both databases answer the same
// BAD_USER_INPUT.
type TextProblem uint8

const (
	TextOK TextProblem = iota
	// TextNotUTF8: bytes that are not UTF-8 (a surrogate's encoding too).
	TextNotUTF8
	// TextNUL: the NUL character (U+0000).
	TextNUL
	// TextLoneSurrogate: an escaped UTF-16 surrogate that pairs with
	// nothing in JSON or GraphQL text, which decoding would silently
	// replace with U+FFFD. Only the text as sent shows it (see
	// internal/platform/surrogate).
	TextLoneSurrogate
)

// TextProblemOf finds the problem of decoded text s, TextOK when it has
// none. It allocates nothing.
func TextProblemOf(s string) TextProblem {
	if !utf8.ValidString(s) {
		return TextNotUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return TextNUL
	}
	return TextOK
}

// Refusal is the BAD_USER_INPUT error for text with problem p at field:
// every refusal of bad text, at the edge or in a service, is worded by
// it. name is how the message calls the place ("variable $input", "the
// request body"); empty, it is the field.
func (p TextProblem) Refusal(field, name string) *Error {
	if name == "" {
		name = field
	}
	var why string
	switch p {
	case TextNotUTF8:
		why = "is not valid UTF-8"
	case TextNUL:
		why = "must not contain the NUL character (U+0000)"
	case TextLoneSurrogate:
		why = "contains an escaped lone UTF-16 surrogate (such as \\ud800) that pairs with nothing, which names no character"
	default:
		panic(fmt.Sprintf("apperr: refusal of text without a problem (%d)", p))
	}
	return &Error{Code: CodeBadUserInput, Field: field, Message: name + " " + why}
}

// CheckText refuses text with a problem (TextProblemOf) at field.
func CheckText(field, s string) error {
	if p := TextProblemOf(s); p != TextOK {
		return p.Refusal(field, "")
	}
	return nil
}

// CheckTextLen is CheckText, then refuses text of more than max
// characters: the bound of a filter, whose text no row holds when longer.
func CheckTextLen(field, s string, max int) error {
	if err := CheckText(field, s); err != nil {
		return err
	}
	if utf8.RuneCountInString(s) > max {
		return Invalid(field, "%s must be at most %d characters", field, max)
	}
	return nil
}

// CheckTexts is CheckText over several named values, collecting every
// failure.
func CheckTexts(fields ...string) error {
	if len(fields)%2 != 0 {
		panic(fmt.Sprintf("apperr.CheckTexts: %d arguments, want name/value pairs", len(fields)))
	}
	var p Problems
	for i := 0; i < len(fields); i += 2 {
		p.Add(CheckText(fields[i], fields[i+1]))
	}
	return p.Err()
}
