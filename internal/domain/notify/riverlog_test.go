package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRiverCancellationsLogQuietlyOnlyWhileStopping(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var stopping atomic.Bool
	logger := slog.New(stopQuiet{Handler: slog.NewTextHandler(&buf, nil), stopping: &stopping}).With("component", "river")
	canceledInsert := func() {
		logger.Error("Client: Failed to send job insert notification", "queues", "deadlines", "err", context.Canceled.Error())
	}
	canceledInsert()
	stopping.Store(true)
	canceledInsert()
	logger.Error("Client: Failed to send job insert notification", "err", errors.New("connection refused").Error())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"level=ERROR", "level=INFO", "level=ERROR"}
	if len(lines) != len(want) {
		t.Fatalf("logged %q", lines)
	}
	for i, line := range lines {
		if !strings.Contains(line, want[i]) || !strings.Contains(line, "component=river") {
			t.Errorf("line %d: %q, want %s", i, line, want[i])
		}
	}
}
