package graph

import (
	"io"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// The generated code (gqlgenrewrite) answers a plain struct field of these
// scalars with a pointer to the field itself: converting a pointer to the
// Marshaler interface allocates nothing, where gqlgen's marshallers box
// the value and make a closure for each field of each object.

// stringValue writes a String! or ID! field as graphql.MarshalString does
// (it calls it when written).
type stringValue string

func (s *stringValue) MarshalGQL(w io.Writer) { graphql.MarshalString(string(*s)).MarshalGQL(w) }

// timeValue writes a non-zero Time! field as graphql.MarshalTime does: RFC
// 3339 with nanoseconds, quoted. RFC 3339's characters need no escaping,
// so the quotes alone make what strconv.Quote makes. Into a writer with
// spare room (the response's bytes.Buffer) it appends in place.
type timeValue time.Time

func (t *timeValue) MarshalGQL(w io.Writer) {
	var b []byte
	spare, inPlace := w.(interface{ AvailableBuffer() []byte })
	if inPlace {
		b = spare.AvailableBuffer()
	}
	b = append(b, '"')
	b = (*time.Time)(t).AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	_, _ = w.Write(b)
}
