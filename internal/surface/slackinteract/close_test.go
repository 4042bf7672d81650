package slackinteract

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack"
)

func quietHandler() *Handler {
	return New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// A reply still under way when Close gives up is cancelled, and Close
// returns only once it has stopped; after Close no reply starts.
func TestCloseAbandonsRepliesCleanly(t *testing.T) {
	t.Parallel()
	h := quietHandler()
	started, stopped := make(chan struct{}), make(chan error, 1)
	h.reply(context.Background(), "unused", func(ctx context.Context) (slack.Reply, bool) {
		close(started)
		<-ctx.Done() // a reply that would never be ready
		stopped <- ctx.Err()
		return slack.Reply{}, false
	}, func(context.Context) (slack.Reply, bool) {
		t.Error("a reply was made after its work was cancelled")
		return slack.Reply{}, false
	})
	<-started
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	h.Close(expired)
	select {
	case err := <-stopped:
		if err != context.Canceled {
			t.Fatalf("the reply ended with %v", err)
		}
	default:
		t.Fatal("Close returned before the reply stopped")
	}
	h.reply(context.Background(), "unused", func(context.Context) (slack.Reply, bool) {
		t.Error("a reply started after Close")
		return slack.Reply{}, false
	})
}

// Replies that start while Close runs either are waited for or do not
// start at all: none runs on after Close has returned.
func TestCloseRacesReplies(t *testing.T) {
	t.Parallel()
	h := quietHandler()
	var running, after atomic.Int64
	var closed atomic.Bool
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.reply(context.Background(), "unused", func(context.Context) (slack.Reply, bool) {
				running.Add(1)
				defer running.Add(-1)
				time.Sleep(time.Millisecond) // work under way
				if closed.Load() {
					after.Add(1)
				}
				return slack.Reply{}, false
			})
		}()
	}
	h.Close(context.Background())
	closed.Store(true)
	if n := running.Load(); n != 0 {
		t.Fatalf("%d replies still running after Close", n)
	}
	wg.Wait()
	if n := after.Load() + running.Load(); n != 0 {
		t.Fatalf("%d replies ran after Close", n)
	}
}
