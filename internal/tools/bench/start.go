package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

const (
	// startsPerRound is how many times a round starts the server.
	startsPerRound = 3
	// idleWait is how long a started server idles before its memory is
	// read.
	idleWait = time.Second
)

// runStart: the built binary with no configuration at all (SQLite in a
// fresh data directory, generated development secrets: `go run .` on a
// bare machine), from exec to /readyz answering 200 (migrations applied),
// then its resident memory after idling.
func runStart(ctx context.Context, e *env, r *Report) error {
	if e.opts.url != "" {
		return fmt.Errorf("start measures a server it starts itself: drop -url")
	}
	for round := range e.opts.rounds {
		var (
			took []time.Duration
			idle []float64
			cpu  []float64
			peak float64
		)
		begin := time.Now()
		for i := range startsPerRound {
			if ctx.Err() != nil {
				break
			}
			addr, err := freeAddr()
			if err != nil {
				return err
			}
			dir := filepath.Join(e.tmp, fmt.Sprintf("start-%d-%d", round, i))
			c, err := e.startChild(ctx, fmt.Sprintf("start-%d-%d", round, i), addr,
				map[string]string{"OTTR_ADDR": addr, "OTTR_DATA_DIR": dir}, nil, "/readyz")
			if err != nil {
				return err
			}
			atReady, err := c.proc.read()
			if err == nil {
				select {
				case <-time.After(idleWait):
				case <-ctx.Done():
				}
				var now usage
				if now, err = c.proc.read(); err == nil {
					took = append(took, c.readyIn)
					idle = append(idle, mb(now.rss))
					cpu = append(cpu, float64(atReady.cpu.Milliseconds()))
					peak = max(peak, mb(now.hwm))
				}
			}
			if err = errors.Join(err, c.stop()); err != nil {
				return err
			}
		}
		if len(took) == 0 {
			break
		}
		slices.Sort(took)
		p := &phase{Ops: int64(len(took)), Elapsed: time.Since(begin), latencies: took}
		s := side("ours", p, nil, usage{}, usage{})
		s.Throughput = 0 // starts are not a rate
		s.PeakRSSMB = &peak
		s.Extra = map[string]float64{"idleRssMB": median(idle), "cpuMsToReady": median(cpu)}
		r.Rounds = append(r.Rounds, Round{Ours: s})
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%d starts a round, each in a fresh data directory (migrations run, secrets generated); "+
		"p50/p95/p99 are the times from exec to /readyz 200; idle memory is VmRSS after %s", startsPerRound, idleWait))
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
