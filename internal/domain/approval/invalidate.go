package approval

import (
	"context"
	"errors"
	"fmt"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// Invalidate withdraws a PENDING approval. Any other state, including a
// pending one past its expiry, is a CONFLICT.
func (s *Service) Invalidate(ctx context.Context, id string, reason *string) (*Approval, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	if reason != nil {
		if err := apperr.CheckText("reason", *reason); err != nil {
			return nil, err
		}
	}
	r, err := s.load(ctx, byID, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, r.ProjectID, project.WriteData); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("approval")
		}
		return nil, err
	}
	if reason != nil {
		if err := checkLength("reason", *reason, MaxReasonLen); err != nil {
			return nil, err
		}
	}
	now := s.now()
	err = s.store.WithTx(ctx, func(ctx context.Context) error {
		if err := project.LockForWrite(ctx, s.store, r.ProjectID); err != nil {
			return err
		}
		res := s.store.DB(ctx).Exec(`UPDATE approvals SET status = ?, invalidated_at = ?, invalidation_reason = ?
			WHERE id = ? AND status = ? AND expires_at > ?`, Invalidated, now, reason, id, Pending, now)
		if res.Error != nil {
			return fmt.Errorf("invalidate approval %s: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return errNotPending
		}
		ev := r.event(event.ApprovalInvalidated, now)
		ev.Reason = reason
		return s.recorder.Record(ctx, ev)
	})
	if err != nil && !errors.Is(err, errNotPending) {
		return nil, err
	}
	current, loadErr := s.load(ctx, byID, id)
	if loadErr != nil {
		return nil, loadErr
	}
	if err != nil {
		return nil, closedError(current.status(now))
	}
	a, err := current.approval(now)
	if err != nil {
		return nil, err
	}
	return &a, nil
}
