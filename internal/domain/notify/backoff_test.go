package notify

import (
	"testing"
	"time"
)

func TestBackoffSpansADay(t *testing.T) {
	t.Parallel()
	var total time.Duration
	want := DefaultRetryBase
	for n := 1; n < MaxAttempts; n++ {
		got := backoff(DefaultRetryBase, n)
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("wait after attempt %d: %s, want %s ± 10 %%", n, got, want)
		}
		total += got
		want *= 3
	}
	// The tenth and last attempt comes about a day after the first.
	if total < 22*time.Hour || total > 27*time.Hour {
		t.Errorf("last attempt %s after the first", total)
	}
}

// The 429s of a delivery are given up on after the same window as its
// failures: about a day.
func TestRetryWindowIsADay(t *testing.T) {
	t.Parallel()
	if w := retryWindow(DefaultRetryBase); w < 24*time.Hour || w > 25*time.Hour {
		t.Errorf("retry window %s, want about 24.6 h", w)
	}
}
