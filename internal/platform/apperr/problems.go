package apperr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Problems collects the validation failures of one input, so that a
// client learns all of them at once instead of one per attempt.
type Problems struct {
	list []*Error
}

// Add records err when it is a BAD_USER_INPUT error (with its own
// problems, if it has several) and returns whether it was; any other error
// is left for the caller to return at once.
func (p *Problems) Add(err error) bool {
	if err == nil {
		return true
	}
	e, ok := As(err)
	if !ok || e.Code != CodeBadUserInput {
		return false
	}
	if len(e.Problems) > 0 {
		p.list = append(p.list, e.Problems...)
	} else {
		p.list = append(p.list, e)
	}
	return true
}

// Err is nil without problems, the problem itself when there is one, and
// otherwise one BAD_USER_INPUT error carrying all of them in order (the
// API answers it with one GraphQL error per problem).
func (p *Problems) Err() error {
	switch len(p.list) {
	case 0:
		return nil
	case 1:
		return p.list[0]
	}
	msgs := make([]string, len(p.list))
	for i, e := range p.list {
		msgs[i] = e.Message
	}
	first := p.list[0]
	return &Error{Code: CodeBadUserInput, Field: first.Field, Message: strings.Join(msgs, "; "), Problems: p.list}
}

// CheckText refuses text that PostgreSQL cannot store and no client means
// to send: a NUL character (U+0000) or bytes that are not UTF-8. Every
// text input and ID passes it before it reaches the database, so both
// databases answer the same BAD_USER_INPUT.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "%s is not valid UTF-8", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Invalid(field, "%s must not contain the NUL character (U+0000)", field)
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
