package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// op is one timed operation of a load phase; worker numbers the goroutine
// that runs it (0 to concurrency-1), so an op can keep per-worker state.
type op func(ctx context.Context, worker int) error

// errExhausted ends a phase early, cleanly: the op ran out of prepared
// input (approvals to execute). It is not counted as an error.
var errExhausted = errors.New("prepared input used up")

// load is how a phase drives its op.
type load struct {
	Concurrency int
	// Rate, when above 0, starts ops at this many per second (open loop)
	// with at most Concurrency in flight; latency then counts from the
	// scheduled start, so a server that falls behind shows it. With 0,
	// each of Concurrency workers starts its next op when the last ends.
	Rate     float64
	Duration time.Duration
	// Progress receives a line a second while the phase runs; nil for none.
	Progress io.Writer
	Label    string
}

// phase is what one run of an op measured.
type phase struct {
	Ops       int64
	Errors    int64
	Elapsed   time.Duration
	latencies []time.Duration // sorted
	// ErrorSamples holds the first distinct error messages.
	ErrorSamples []string
	// Cut says why the phase ended before its duration, if it did.
	Cut string
}

// Throughput is successful ops per second.
func (p *phase) Throughput() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Ops) / p.Elapsed.Seconds()
}

// Percentile of the successful ops' latencies, 0 when there are none.
func (p *phase) Percentile(q float64) time.Duration {
	return percentile(p.latencies, q)
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

const maxErrorSamples = 5

// run drives o as l says until the duration has passed, ctx ends (Ctrl-C:
// the phase keeps what it measured) or o reports errExhausted.
func (l load) run(ctx context.Context, o op) *phase {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		ops, errs atomic.Int64
		mu        sync.Mutex
		samples   []string
		cut       atomic.Value
		wg        sync.WaitGroup
	)
	concurrency := max(l.Concurrency, 1)
	lat := make([][]time.Duration, concurrency)
	start := time.Now()
	deadline := start.Add(l.Duration)
	var seq atomic.Int64 // open loop: the next op's slot
	interval := time.Duration(0)
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) / l.Rate)
	}
	for w := range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				begin := time.Now()
				if interval > 0 {
					begin = start.Add(time.Duration(seq.Add(1)-1) * interval)
					if !begin.Before(deadline) {
						return
					}
					if wait := time.Until(begin); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
				} else if !begin.Before(deadline) {
					return
				}
				err := o(ctx, w)
				took := time.Since(begin)
				switch {
				case err == nil:
					ops.Add(1)
					lat[w] = append(lat[w], took)
				case errors.Is(err, errExhausted):
					cut.CompareAndSwap(nil, "prepared input used up")
					cancel()
					return
				case ctx.Err() != nil:
					// Interrupted mid-op: neither a success nor the server's fault.
					return
				default:
					errs.Add(1)
					mu.Lock()
					if msg := err.Error(); len(samples) < maxErrorSamples && !slices.Contains(samples, msg) {
						samples = append(samples, msg)
					}
					mu.Unlock()
				}
			}
		})
	}
	stopProgress := l.progress(ctx, start, &ops, &errs)
	wg.Wait()
	stopProgress()
	// Ops in flight at the deadline finish and count, so the time is the
	// wall time until the last one did.
	p := &phase{Ops: ops.Load(), Errors: errs.Load(), Elapsed: time.Since(start), ErrorSamples: samples}
	if c, ok := cut.Load().(string); ok {
		p.Cut = c
	} else if ctx.Err() != nil && time.Now().Before(deadline) {
		p.Cut = "interrupted"
	}
	for _, l := range lat {
		p.latencies = append(p.latencies, l...)
	}
	slices.Sort(p.latencies)
	return p
}

// progress prints a line a second until the returned function is called.
func (l load) progress(ctx context.Context, start time.Time, ops, errs *atomic.Int64) func() {
	if l.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				n := ops.Load()
				fmt.Fprintf(l.Progress, "%-22s %5.0fs/%.0fs  %8d ops  %8.0f/s  %d errors\n",
					l.Label, time.Since(start).Seconds(), l.Duration.Seconds(), n, float64(n-last), errs.Load())
				last = n
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// published is what publishAt did.
type published struct {
	ok, failed int64
	samples    []string // the first distinct errors
}

// publishAt calls publish rate times a second for d, each call on its own
// goroutine so that a slow one does not hold up the next, and waits for
// the last. tick is called about once a second with the time elapsed and
// the calls that succeeded so far.
func publishAt(ctx context.Context, rate float64, d time.Duration, publish func(context.Context) error,
	tick func(elapsed time.Duration, ok int64)) published {
	var (
		ok, failed atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		samples    []string
	)
	start, last := time.Now(), time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
		}
		wg.Go(func() {
			err := publish(ctx)
			switch {
			case err == nil:
				ok.Add(1)
			case ctx.Err() == nil:
				failed.Add(1)
				mu.Lock()
				if len(samples) < maxErrorSamples && !slices.Contains(samples, err.Error()) {
					samples = append(samples, err.Error())
				}
				mu.Unlock()
			}
		})
		if time.Since(last) >= time.Second {
			last = time.Now()
			tick(time.Since(start), ok.Load())
		}
	}
	wg.Wait()
	return published{ok: ok.Load(), failed: failed.Load(), samples: samples}
}
