package live

import (
	"context"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/event"
)

// rearmExpiry is the least wait before looking again at a pending
// approval, should its expiry timer fire while it still reads PENDING (the
// approvals' clock a hair behind the timer's).
const rearmExpiry = 100 * time.Millisecond

// ApprovalUpdated opens the stream of one approval: its state at once, then
// the approval again each time its status or failed PIN attempts change,
// ending after a final status (EXECUTED, EXPIRED, INVALIDATED, LOCKED);
// also once its reminder (APPROVAL_EXPIRING) is recorded. A
// script waiting for a decision subscribes to this instead of polling. The
// caller must be allowed to read the approval's project; anything else is
// NOT_FOUND, before anything is sent.
//
// The approval's events say when to look again; the approval itself, read
// through its service, says what it is now, so an event that only repeats
// what was already sent sends nothing. No event marks the moment a pending
// approval's time runs out, so a timer at its expiry looks again too.
func (s *Subscriptions) ApprovalUpdated(ctx context.Context, id string) (Stream[approval.Approval], error) {
	a, err := s.approvals.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	g, err := s.authorize(ctx, a.ProjectID)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, send func(approval.Approval) bool) error {
		sub := s.feed.Subscribe(ctx, event.Filter{ProjectID: a.ProjectID}, s.opts.Buffer)
		defer sub.Close()
		g.start()
		defer g.stop()
		expiry := time.NewTimer(time.Until(a.ExpiresAt))
		defer expiry.Stop()

		var sent *approval.Approval
		// look reads the approval (after subscribing, so no change is
		// missed) and sends it if it changed; more is false once it is final.
		look := func() (more bool, err error) {
			cur, err := s.approvals.Get(ctx, id)
			if err != nil {
				return false, err
			}
			if sent == nil || cur.Status != sent.Status || cur.FailedPinAttempts != sent.FailedPinAttempts ||
				(cur.RemindedAt == nil) != (sent.RemindedAt == nil) {
				if !send(*cur) {
					return false, nil
				}
				sent = cur
			}
			if cur.Status == approval.Pending {
				expiry.Reset(max(time.Until(cur.ExpiresAt), rearmExpiry))
				return true, nil
			}
			return false, nil
		}
		if more, err := look(); !more || err != nil {
			return err
		}
		return g.watch(ctx, sub, expiry.C, func(ev *event.Event) (bool, error) {
			if ev != nil && (ev.ApprovalID == nil || *ev.ApprovalID != id) {
				return true, nil
			}
			return look()
		})
	}, nil
}
