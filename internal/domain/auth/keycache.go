package auth

import (
	"sync"
	"time"
)

// KeyCacheTTL is how long an instance trusts what it last read of an API
// key: a request that presents a key read less than this ago is
// authenticated without reading it again. Revoking a key (or deleting its
// project) forgets it at once on the instance that did it; the other
// instances on the same database refuse it within KeyCacheTTL.
const KeyCacheTTL = 2 * time.Second

// keyCacheMax bounds the keys remembered at once; past it the cache starts
// afresh (a burst of distinct keys costs their reads, nothing more).
const keyCacheMax = 10_000

// keyCache remembers recently read API keys by the hash of their secret.
// Only keys that exist are remembered: an unknown secret is read every
// time.
type keyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedKey
	// gen counts the forgets: a read that started before one is not
	// remembered, as it may predate the revocation.
	gen uint64
}

type cachedKey struct {
	key    APIKey
	readAt time.Time
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, m: map[string]cachedKey{}}
}

// get returns the key read for hash less than the TTL ago; on a miss, the
// generation to hand to put with the key read.
func (c *keyCache) get(hash string, now time.Time) (APIKey, uint64, bool) {
	if c.ttl <= 0 {
		return APIKey{}, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || now.Sub(e.readAt) >= c.ttl || now.Before(e.readAt) {
		return APIKey{}, c.gen, false
	}
	return e.key, c.gen, true
}

// put remembers a key read at now, unless a forget came since get
// answered gen.
func (c *keyCache) put(hash string, key APIKey, now time.Time, gen uint64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= keyCacheMax {
		clear(c.m)
	}
	c.m[hash] = cachedKey{key: key, readAt: now}
}

// stamped records that the key's use was stamped at, so that the requests
// served from the cache do not stamp it again within the minute.
func (c *keyCache) stamped(hash string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[hash]; ok {
		e.key.LastUsedAt = &at
		c.m[hash] = e
	}
}

// forget drops the keys for which drop answers true.
func (c *keyCache) forget(drop func(APIKey) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.m {
		if drop(e.key) {
			delete(c.m, h)
		}
	}
}

// ForgetKey makes the next request with the key read it again: called
// when the key is revoked on this instance.
func (s *Service) ForgetKey(id string) {
	s.keys.forget(func(k APIKey) bool { return k.ID == id })
}

// ForgetProjectKeys forgets every key of a project: called when the
// project is deleted on this instance.
func (s *Service) ForgetProjectKeys(projectID string) {
	s.keys.forget(func(k APIKey) bool { return k.ProjectID == projectID })
}
