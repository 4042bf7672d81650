package model

import (
	"io"
	"strconv"
)

// writeEnum writes an enum's value as gqlgen's generated MarshalGQL writes
// it, fmt.Fprint(w, strconv.Quote(value)), without fmt and without making
// the quoted string: go generate's second step (internal/tools/
// gqlgenrewrite) points every enum of models_gen.go at it. On a dashboard's
// page, where every approval has a status and every event a type, the two
// allocations and fmt's printer per value were about 2 % of the CPU.
//
// A valid value is a GraphQL name ([_A-Za-z][_0-9A-Za-z]*), which
// strconv.Quote leaves as it is between its quotes; so does it any byte
// from space to tilde but the quote and the backslash. Such a value is
// written between quotes as it is, into the writer's spare room when it
// has some (the response's bytes.Buffer). Any other (an invalid value, never
// set by this server) is written by strconv.Quote as before: the bytes
// written are strconv.Quote's for every value.
func writeEnum(w io.Writer, value string) {
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			_, _ = io.WriteString(w, strconv.Quote(value))
			return
		}
	}
	if spare, ok := w.(interface{ AvailableBuffer() []byte }); ok {
		b := append(spare.AvailableBuffer(), '"')
		b = append(b, value...)
		b = append(b, '"')
		_, _ = w.Write(b)
		return
	}
	_, _ = io.WriteString(w, `"`)
	_, _ = io.WriteString(w, value)
	_, _ = io.WriteString(w, `"`)
}
