package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// BenchmarkCommitToSlack measures, per event, the time from the commit of
// its transaction to the fake Slack receiving its message, with the
// production dispatcher settings except the per-channel rate limit.
// Producers record events one after another, each waiting for its message
// before the next; "isolated" pauses 50 ms more between events, so that
// each one finds the dispatcher idle.
//
//	go test -run '^$' -bench CommitToSlack -benchtime 300x ./internal/domain/notify/
func BenchmarkCommitToSlack(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d)+"/isolated", func(b *testing.B) { benchmarkCommitToSlack(b, d, 1, 50*time.Millisecond) })
		for _, producers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/producers=%d", d, producers), func(b *testing.B) {
				benchmarkCommitToSlack(b, d, producers, 0)
			})
		}
	}
}

func benchmarkCommitToSlack(b *testing.B, d store.Dialect, producers int, pause time.Duration) {
	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		arrived   = map[string]chan time.Time{}
	)
	fake := slacktest.NewServer()
	b.Cleanup(fake.Close)
	fake.Respond(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var p struct{ Text string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &p)
		key := p.Text[strings.LastIndex(p.Text, "Key: ")+len("Key: "):]
		mu.Lock()
		ch := arrived[key]
		mu.Unlock()
		if ch != nil {
			ch <- at
		}
		slacktest.OK()(w, r)
	})
	srv := testserver.Start(b, d, func(c *config.Config) {
		c.SlackWebhookPrefixes = append(c.SlackWebhookPrefixes, fake.Prefix())
		c.Delivery = config.Delivery{ChannelInterval: time.Nanosecond, ChannelBurst: 1 << 30}
	})
	srv.App.Recorder.OnCommit(func(ev event.Event) {
		now := time.Now()
		mu.Lock()
		committed[ev.KeyPath] = now
		mu.Unlock()
	})
	owner := srv.SignUp("Owner")
	pid := owner.CreateProject("Bench")
	owner.AddSlackChannel(pid, "bench", fake.WebhookURL("T1", "B1", "BenchS3cret"), "APPROVAL_EXPIRED")

	latencies := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	for p := range producers {
		wg.Go(func() {
			for i := p; i < b.N; i += producers {
				key := fmt.Sprintf("bench/%d", i)
				ch := make(chan time.Time, 1)
				mu.Lock()
				arrived[key] = ch
				mu.Unlock()
				err := srv.App.Recorder.Record(context.Background(), &event.Event{Type: event.ApprovalExpired, ProjectID: pid, KeyPath: key})
				if err != nil {
					b.Error(err)
					return
				}
				select {
				case at := <-ch:
					mu.Lock()
					latencies = append(latencies, at.Sub(committed[key]))
					mu.Unlock()
				case <-time.After(30 * time.Second):
					b.Errorf("%s never arrived", key)
					return
				}
				time.Sleep(pause)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	ms := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.95), "p95-ms")
	b.ReportMetric(ms(1), "max-ms")
}
