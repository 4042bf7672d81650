package graph

import (
	"io"
	"time"
)

// timeValue writes a time as graphql.MarshalTime writes a non-zero one:
// RFC 3339 with nanoseconds, quoted. It appends to a buffer on the stack
// where MarshalTime makes a closure, the formatted string and its quoted
// copy; RFC 3339's characters need no escaping, so the quotes alone make
// the string strconv.Quote would. The generated code uses it for a Time!
// struct field that is not zero (gqlgenrewrite).
type timeValue time.Time

func (t timeValue) MarshalGQL(w io.Writer) {
	var buf [64]byte
	b := append(buf[:0], '"')
	b = time.Time(t).AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	_, _ = w.Write(b)
}
