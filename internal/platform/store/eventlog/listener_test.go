package eventlog

import (
	"context"
	"testing"
	"time"
)

// TestListenerBackoff needs no database: the delays double from
// MinBackoff up to MaxBackoff, each with half of it random.
func TestListenerBackoff(t *testing.T) {
	t.Parallel()
	l, err := NewListener("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", func(context.Context, int64) {},
		ListenerOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 100 {
		ceil := 30 * time.Second
		if n < 9 {
			ceil = min(100*time.Millisecond<<n, ceil)
		}
		if d := l.backoff(n); d < ceil/2 || d > ceil {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", n, d, ceil/2, ceil)
		}
	}
}
