package approvalpage

import (
	"testing"
	"time"
)

func TestTimeLeftMatchesTheCountdownScript(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0 s"},
		{0, "0 s"},
		{400 * time.Millisecond, "0 s"},
		{59 * time.Second, "59 s"},
		{60 * time.Second, "1 min 00 s"},
		{9*time.Minute + 5*time.Second, "9 min 05 s"},
		{time.Hour, "1 h 00 min"},
		{26*time.Hour + 7*time.Minute + 59*time.Second, "26 h 07 min"},
	} {
		if got := timeLeft(c.d); got != c.want {
			t.Errorf("timeLeft(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestClockShowsTheDateOnlyForAnotherDay(t *testing.T) {
	now := time.Now().UTC()
	if got, want := clock(now), now.Format("15:04")+" UTC"; got != want {
		t.Errorf("clock(today) = %q, want %q", got, want)
	}
	later := now.AddDate(0, 0, 2)
	if got, want := clock(later), later.Format("2 Jan 2006, 15:04")+" UTC"; got != want {
		t.Errorf("clock(in two days) = %q, want %q", got, want)
	}
}
