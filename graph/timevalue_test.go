package graph

import (
	"bytes"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// timeValue writes what graphql.MarshalTime writes, byte for byte: in UTC
// and other zones, with and without fractions of a second, before year 1000
// and after 9999.
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
		var want, got bytes.Buffer
		graphql.MarshalTime(tm).MarshalGQL(&want)
		timeValue(tm).MarshalGQL(&got)
		if got.String() != want.String() {
			t.Errorf("%v: timeValue wrote %s, MarshalTime %s", tm, got.String(), want.String())
		}
	}
}
