package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// OptInRefreshEvery is how often each instance reads whether any project
// has opted in to deadlines: a project that opts in on another instance
// gets its first sweep within about this long (plus SweepEvery).
const OptInRefreshEvery = 5 * time.Second

// optIn tells the deadline sweep's constructor whether any project wants
// sweeps, so that a server where none does inserts no job at all.
type optIn struct {
	mu sync.Mutex
	// wanted is read without the lock by River's periodic enqueuer.
	wanted atomic.Bool
	// noted counts NoteDeadlineOptIn calls, so that a refresh that read
	// before one of them does not turn the flag back off.
	noted uint64
}

// NoteDeadlineOptIn turns the sweeps on at once on this instance: a project
// has just opted in to timely expiry or reminders.
func (s *Service) NoteDeadlineOptIn() {
	s.optIn.mu.Lock()
	defer s.optIn.mu.Unlock()
	s.optIn.noted++
	s.optIn.wanted.Store(true)
}

// DeadlinesWanted reports whether, as last read, any project has opted in.
func (s *Service) DeadlinesWanted() bool { return s.optIn.wanted.Load() }

// refreshOptIn reads whether any project has opted in; each EXISTS reads
// one partial index (migration 00012).
func (s *Service) refreshOptIn(ctx context.Context) error {
	s.optIn.mu.Lock()
	noted := s.optIn.noted
	s.optIn.mu.Unlock()
	var wanted bool
	err := s.store.DB(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM projects WHERE expire_on_time)
		OR EXISTS (SELECT 1 FROM projects WHERE remind_before_seconds IS NOT NULL)`).Scan(&wanted).Error
	if err != nil {
		return fmt.Errorf("read deadline opt-ins: %w", err)
	}
	s.optIn.mu.Lock()
	defer s.optIn.mu.Unlock()
	if wanted || s.optIn.noted == noted {
		s.optIn.wanted.Store(wanted)
	}
	return nil
}

// WatchDeadlineOptIns reads the opt-ins now, then every interval until
// the returned stop is called, so that this instance sweeps for projects
// that opted in on another one, and stops sweeping once none is left.
func (s *Service) WatchDeadlineOptIns(ctx context.Context, every time.Duration, logger *slog.Logger) (stop func() error, err error) {
	if err := s.refreshOptIn(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var done sync.WaitGroup
	done.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// A failed read keeps the last answer; the next tick retries.
			if err := s.refreshOptIn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				logger.WarnContext(ctx, "deadline opt-ins not read", "err", err)
			}
		}
	})
	return func() error {
		cancel()
		done.Wait()
		return nil
	}, nil
}
