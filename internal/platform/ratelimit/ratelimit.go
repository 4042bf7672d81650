// Package ratelimit limits requests per key (a client IP, an e-mail) with
// token buckets, and carries the client IP in the request context.
package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets, one per key, created on first use and
// forgotten once idle.
type Limiter struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New allows burst requests at once per key, refilled at one per every.
func New(every time.Duration, burst int) *Limiter {
	return NewWithClock(every, burst, time.Now)
}

// NewWithClock is New reading the time from now, the server's clock, so
// that a test can hold the time still while it counts requests.
func NewWithClock(every time.Duration, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, burst: burst, now: now, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket. When none is left it takes
// nothing and says how long until one is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.every
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets buckets that have refilled completely, so that memory stays
// bounded by the keys seen recently.
func (l *Limiter) sweep(now time.Time) {
	idle := l.every * time.Duration(l.burst)
	if idle < time.Minute {
		idle = time.Minute
	}
	if now.Sub(l.swept) < idle {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.seen) > idle {
			delete(l.buckets, k)
		}
	}
}

type ipKey struct{}

// WithClientIP stores the client's IP address in ctx.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// ClientIP is the client's IP address, or "" outside an HTTP request.
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(ipKey{}).(string)
	return ip
}
