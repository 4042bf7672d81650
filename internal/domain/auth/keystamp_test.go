package auth

import (
	"context"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// noWait is how long a request with an API key may take while another
// connection holds the lock the stamp needs: well below SQLite's busy
// timeout (10 s), which a stamp on the request's path would wait for, and
// far above what reading the key takes.
const noWait = 5 * time.Second

// lockKeyRow holds, until release is called, a transaction that wrote the
// key's row: SQLite's write lock, PostgreSQL's row lock.
func lockKeyRow(t *testing.T, st *store.Store, keyID string) (release func()) {
	t.Helper()
	locked, unlock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.WithTx(context.Background(), func(ctx context.Context) error {
			if err := st.DB(ctx).Exec("UPDATE api_keys SET name = name WHERE id = ?", keyID).Error; err != nil {
				return err
			}
			close(locked)
			<-unlock
			return nil
		})
	}()
	select {
	case <-locked:
	case err := <-done:
		t.Fatalf("lock the key's row: %v", err)
	}
	var released bool
	release = func() {
		if released {
			return
		}
		released = true
		close(unlock)
		storetest.Must(t, <-done)
	}
	t.Cleanup(release)
	return release
}

// authenticateSoon authenticates secret, failing if it takes noWait.
func authenticateSoon(t *testing.T, svc *Service, secret string) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := svc.Authenticate(context.Background(), secret)
		done <- err
	}()
	select {
	case err := <-done:
		storetest.Must(t, err)
	case <-time.After(noWait):
		t.Fatalf("a request with an API key still waits after %v: it waits for the stamp of its use", noWait)
	}
	t.Logf("authenticated in %v", time.Since(start))
}

// A request with an API key does not wait for the write of the key's
// lastUsedAt: it is answered while another connection holds the lock the
// write needs, and the key is stamped once the lock is released. The
// requests meanwhile leave the stamp to the one under way.
func TestAPIKeyUseIsStampedOffTheRequest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := storetest.Open(t, d)
		ctx := context.Background()
		f := newFixture(t, st)
		projectID := store.NewID()
		storetest.Must(t, st.DB(ctx).Exec("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", projectID, "Keys", store.Now()).Error)
		newKey := func() (APIKey, string) {
			secret := WriteKeyPrefix + RandomToken(24)
			k := APIKey{ID: store.NewID(), ProjectID: projectID, Name: "deploy", Scope: ScopeWrite, Prefix: secret[:8],
				SecretHash: HashToken(secret), CreatedAt: store.Now()}
			storetest.Must(t, st.DB(ctx).Create(&k).Error)
			return k, secret
		}
		lastUsed := func(id string) *time.Time {
			t.Helper()
			var k APIKey
			storetest.Must(t, st.DB(ctx).Where("id = ?", id).Take(&k).Error)
			return k.LastUsedAt
		}

		key, secret := newKey()
		release := lockKeyRow(t, st, key.ID)
		before := store.Now()
		for range 3 {
			authenticateSoon(t, f.svc, secret)
			f.svc.ForgetKey(key.ID) // read the row again: still unstamped
		}
		f.svc.stamps.mu.Lock()
		running := len(f.svc.stamps.running)
		f.svc.stamps.mu.Unlock()
		if running != 1 {
			t.Errorf("%d stamps under way, want the first request's only", running)
		}
		if at := lastUsed(key.ID); at != nil {
			t.Fatalf("lastUsedAt written through the lock: %v", at)
		}
		release()
		f.svc.stamps.wait()
		at := lastUsed(key.ID)
		if at == nil || at.Before(before) {
			t.Fatalf("lastUsedAt after the lock is released: %v, want about %v", at, before)
		}
		// The instance knows it stamped the key: no write within the minute.
		authenticateSoon(t, f.svc, secret)
		f.svc.stamps.mu.Lock()
		running = len(f.svc.stamps.running)
		f.svc.stamps.mu.Unlock()
		if running != 0 {
			t.Errorf("a stamp started within the minute of the last")
		}

		// Stamps write one at a time: the stamp of another key waits for
		// the one blocked on the lock without taking a connection of the
		// pool.
		blocked, blockedSecret := newKey()
		queued, queuedSecret := newKey()
		release = lockKeyRow(t, st, blocked.ID)
		inUse := func() int { return st.SQL().Stats().InUse }
		base := inUse()
		authenticateSoon(t, f.svc, blockedSecret)
		for deadline := time.Now().Add(noWait); inUse() <= base; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the stamp of a locked key never took a connection")
			}
		}
		authenticateSoon(t, f.svc, queuedSecret)
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if n := inUse(); n > base+1 {
				t.Fatalf("%d connections in use, want %d: stamps write one at a time", n, base+1)
			}
		}
		if at := lastUsed(queued.ID); at != nil {
			t.Fatalf("a stamp written while another waits for a lock: %v", at)
		}
		release()
		f.svc.stamps.wait()
		if lastUsed(blocked.ID) == nil || lastUsed(queued.ID) == nil {
			t.Fatal("keys not stamped once the lock is released")
		}

		// Closing the service ends a stamp that waits for a lock, and no
		// stamp starts after.
		other, otherSecret := newKey()
		svc := NewService(st, f.tokens, f.clock.Now)
		release = lockKeyRow(t, st, other.ID)
		authenticateSoon(t, svc, otherSecret)
		closed := make(chan struct{})
		go func() {
			svc.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(noWait):
			t.Fatal("Close still waits for a stamp blocked on a lock")
		}
		release()
		// Whether the cancelled UPDATE lands is not up to us: on
		// PostgreSQL the server may carry it out once the lock is gone,
		// before the cancel request reaches it. Either way the key was
		// used. What Close promises is that no stamp starts after it:
		// stamp marks one under way before it returns.
		_, freshSecret := newKey()
		authenticateSoon(t, svc, freshSecret)
		svc.stamps.mu.Lock()
		running = len(svc.stamps.running)
		svc.stamps.mu.Unlock()
		if running != 0 {
			t.Error("a stamp started after Close")
		}
	})
}
