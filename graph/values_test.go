package graph

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// timeValue writes what graphql.MarshalTime writes, byte for byte: in UTC
// and other zones, with and without fractions of a second, before year 1000
// and after 9999, after what the buffer holds and into a writer without
// spare room.
func TestTimeValueWritesAsMarshalTime(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	for _, tm := range []time.Time{
		time.Date(2026, 12, 7, 8, 30, 0, 0, time.UTC),
		time.Date(2026, 12, 7, 8, 30, 0, 123456789, time.UTC),
		time.Date(2026, 6, 30, 23, 59, 59, 100, paris),
		time.Date(1969, 7, 20, 20, 17, 40, 5e8, time.FixedZone("", -5*3600-30*60)),
		time.Date(999, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	} {
		var want, got, unbuffered bytes.Buffer
		graphql.MarshalTime(tm).MarshalGQL(&want)
		got.WriteString("[")
		(*timeValue)(&tm).MarshalGQL(&got)
		(*timeValue)(&tm).MarshalGQL(writerOnly{&unbuffered})
		if got.String() != "["+want.String() || unbuffered.String() != want.String() {
			t.Errorf("%v: timeValue wrote %s and %s, MarshalTime %s", tm, got.String(), unbuffered.String(), want.String())
		}
	}
}

// writerOnly hides a buffer's spare room.
type writerOnly struct{ io.Writer }

// stringValue writes what graphql.MarshalString writes, escapes included.
func TestStringValueWritesAsMarshalString(t *testing.T) {
	for _, s := range []string{"", "svc/deploy", "quote \" and \\ backslash", "line\nbreak\ttab", "\x01\x1f", "héllo ✓", "<script>&"} {
		var want, got bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&want)
		(*stringValue)(&s).MarshalGQL(&got)
		if got.String() != want.String() {
			t.Errorf("%q: stringValue wrote %s, MarshalString %s", s, got.String(), want.String())
		}
	}
}
