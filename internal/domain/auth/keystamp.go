package auth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/ottr/backend/internal/platform/store"
)

// stampTimeout bounds one write of a key's lastUsedAt; past it the stamp is
// given up, and the next request with the key tries again.
const stampTimeout = 30 * time.Second

// stamper writes API keys' lastUsedAt in the background, so that no
// request waits for the write: on SQLite a write may queue behind others
// for the whole busy timeout, as long as a client waits for an answer.
// One stamp per key runs at a time; the requests that come meanwhile
// leave it to that one.
type stamper struct {
	store *store.Store
	keys  *keyCache
	log   *slog.Logger

	// mu orders starting a stamp against close: once closed is set, none
	// starts, so that close's wait covers every one.
	mu      sync.Mutex
	closed  bool
	running map[string]bool // by key id
	wg      sync.WaitGroup
	// turn lets one stamp write at a time: stamps waiting for a lock
	// hold one connection of the pool, not one each, so that the
	// requests' reads still find connections.
	turn chan struct{}
	// stopped ends the stamps still running when the service closes.
	stopped context.Context
	stop    context.CancelFunc
}

func newStamper(st *store.Store, keys *keyCache) *stamper {
	stopped, stop := context.WithCancel(context.Background())
	return &stamper{store: st, keys: keys, log: slog.Default(), running: map[string]bool{},
		turn: make(chan struct{}, 1), stopped: stopped, stop: stop}
}

// stamp records, in the background, that the key (its id, and the hash
// of its secret for the cache) was used at at, unless a stamp of the key
// is already under way or the service is closed. It never waits.
func (s *stamper) stamp(hash, keyID string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running[keyID] {
		return
	}
	s.running[keyID] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.running, keyID)
			s.mu.Unlock()
		}()
		// Not the request's context: the request may end first, and a
		// transaction it carried must not be used here.
		ctx, cancel := context.WithTimeout(s.stopped, stampTimeout)
		defer cancel()
		err := s.write(ctx, keyID, at)
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			if s.stopped.Err() != nil {
				s.log.Debug("API key use not stamped: shutting down", "keyId", keyID)
				return
			}
			s.log.Warn("stamp API key use", "keyId", keyID, "err", err)
			return
		}
		// Before running is cleared: a request that finds the cache
		// unstamped until then finds this stamp running.
		s.keys.stamped(hash, at)
	}()
}

// write stamps the key's row, in its turn, unless it was stamped less
// than a minute before at.
func (s *stamper) write(ctx context.Context, keyID string, at time.Time) error {
	select {
	case s.turn <- struct{}{}:
		defer func() { <-s.turn }()
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.store.DB(ctx).Model(&APIKey{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", keyID, at.Add(-time.Minute)).
		Update("last_used_at", at).Error
}

// close stops the stamps: none starts any more, those under way are
// cancelled, and close returns once they have ended.
func (s *stamper) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

// wait returns once no stamp is under way (for tests).
func (s *stamper) wait() { s.wg.Wait() }
