package model

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// onlyWriter hides bytes.Buffer's spare room.
type onlyWriter struct{ b *bytes.Buffer }

func (w onlyWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

// An enum writes what gqlgen's fmt.Fprint(w, strconv.Quote(value)) wrote,
// for a valid value and for any other, into a buffer with spare room or
// without it.
func TestWriteEnumIsStrconvQuote(t *testing.T) {
	values := []string{"", "PENDING", "APPROVAL_EXECUTED", "_x9", "a b~", `say "hi"`, `back\slash`,
		"tab\there", "new\nline", "\x00", "\x7f", "é", "\xff", "日本"}
	for _, v := range values {
		var want bytes.Buffer
		fmt.Fprint(&want, strconv.Quote(v))
		for _, pre := range []string{"", strings.Repeat("x", 100)} {
			var spare bytes.Buffer
			spare.Grow(200)
			spare.WriteString(pre)
			writeEnum(&spare, v)
			var plain bytes.Buffer
			plain.WriteString(pre)
			writeEnum(onlyWriter{&plain}, v)
			if spare.String() != pre+want.String() || plain.String() != pre+want.String() {
				t.Errorf("%q: wrote %q and %q, want %q", v, spare.String(), plain.String(), pre+want.String())
			}
		}
	}
	var buf bytes.Buffer
	EventTypeApprovalCreated.MarshalGQL(&buf)
	if buf.String() != `"APPROVAL_CREATED"` {
		t.Fatalf("EventType wrote %s", buf.String())
	}
}

func BenchmarkEnumMarshal(b *testing.B) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		ApprovalStatusPending.MarshalGQL(&buf)
	}
}
