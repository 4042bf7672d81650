package notify

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
)

// stopQuiet is River's log handler. While the client stops, River's
// periodic job enqueuer may be cut off in the middle of an insert and log
// the cancellation as an error ("Failed to send job insert notification:
// context canceled"); that is the stop working, so it is logged at INFO.
// A periodic job's constructor that returns nil (a sweep with nothing to
// sweep) makes River log at INFO every time; that is logged at DEBUG.
type stopQuiet struct {
	slog.Handler
	stopping *atomic.Bool
}

func (h stopQuiet) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && strings.HasSuffix(r.Message, periodicSkipped) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r = relevel(r, slog.LevelDebug)
	}
	if r.Level >= slog.LevelError && h.stopping.Load() && canceled(r) {
		r = relevel(r, slog.LevelInfo)
	}
	return h.Handler.Handle(ctx, r)
}

// periodicSkipped ends River's message for a periodic job constructor
// that returned nil.
const periodicSkipped = "nil returned from periodic job constructor, skipping"

func relevel(r slog.Record, level slog.Level) slog.Record {
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return out
}

func (h stopQuiet) WithAttrs(attrs []slog.Attr) slog.Handler {
	return stopQuiet{Handler: h.Handler.WithAttrs(attrs), stopping: h.stopping}
}

func (h stopQuiet) WithGroup(name string) slog.Handler {
	return stopQuiet{Handler: h.Handler.WithGroup(name), stopping: h.stopping}
}

// canceled reports whether a record's error is a context's cancellation.
func canceled(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && strings.Contains(a.Value.String(), context.Canceled.Error()) {
			found = true
		}
		return !found
	})
	return found
}
