package project

import (
	"context"
	"sync"

	"github.com/ottr/backend/internal/platform/store"
)

// accessMemo remembers, for one response (one query, one mutation, one
// event of a subscription), the caller's membership in each project it
// asked about: a page of approvals authorizes every approval's project and
// events, and would otherwise read the same membership row once per field.
// It lives no longer than the response, so a role change or a removal
// takes effect at the next request, as without it; the writes of
// memberships in this package forget it at once, for the rest of the
// same response (a mutation document's later fields).
type accessMemo struct {
	mu      sync.Mutex
	entries map[string]*memoEntry
}

// memoEntry is one membership read; callers asking at once wait for the
// first one's read.
type memoEntry struct {
	once   sync.Once
	member Member
	err    error
}

type accessMemoKey struct{}

// WithAccessMemo returns a context in which Authorize reads each of the
// caller's memberships at most once. Install it per response, never for a
// connection's lifetime: live subscriptions recheck memberships on a
// context of their own, which must not remember them.
func WithAccessMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, accessMemoKey{}, &accessMemo{entries: map[string]*memoEntry{}})
}

// forgetAccess drops what the response's memo holds, after a write of
// memberships.
func forgetAccess(ctx context.Context) {
	if m, ok := ctx.Value(accessMemoKey{}).(*accessMemo); ok {
		m.mu.Lock()
		clear(m.entries)
		m.mu.Unlock()
	}
}

// membership reads the user's membership in the project, through the
// response's memo when there is one. Inside a transaction it always reads:
// a write that locked the project decides on the row as it is now. A read
// that failed for another reason than "no such member" is not remembered.
func (a *Authorizer) membership(ctx context.Context, projectID, userID string) (Member, error) {
	read := func() (Member, error) {
		var m Member
		err := a.store.DB(ctx).Where("project_id = ? AND user_id = ?", projectID, userID).Take(&m).Error
		return m, err
	}
	memo, ok := ctx.Value(accessMemoKey{}).(*accessMemo)
	if !ok || store.InTx(ctx) {
		return read()
	}
	key := projectID + "\x00" + userID
	memo.mu.Lock()
	e, ok := memo.entries[key]
	if !ok {
		e = &memoEntry{}
		memo.entries[key] = e
	}
	memo.mu.Unlock()
	e.once.Do(func() { e.member, e.err = read() })
	if e.err != nil && !store.IsNotFound(e.err) {
		memo.mu.Lock()
		if memo.entries[key] == e {
			delete(memo.entries, key)
		}
		memo.mu.Unlock()
	}
	return e.member, e.err
}
