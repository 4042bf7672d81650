package apperr

import "strings"

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
