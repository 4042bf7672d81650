package approval

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/event"
)

// Deadlines of the projects that asked for them (project.Settings): a
// reminder some seconds before an approval expires, and its expiry at
// expiresAt rather than at the next access attempt. A sweep, run every
// second by a River periodic job (deadlinejob.go), finds what is due with
// conditional UPDATEs on the status, the same single transition an access
// attempt makes, so every event is recorded once however many sweeps and
// access attempts race. A sweep costs nothing per created approval: it reads
// the pending approvals of the opted-in projects through a partial index
// (migration 00012). While no project has opted in, none is run
// (optin.go).

// deadlineBatch bounds the approvals one transaction reminds or expires, so
// that a sweep after a long stop commits in steps.
const deadlineBatch = 500

// deadlineLock is the PostgreSQL advisory lock under which sweeps of all
// instances take turns: two sweeps locking the same rows in different
// orders would deadlock.
const deadlineLock = 0x6f7474725f646c6e // "ottr_dln"

// Swept counts what one sweep recorded.
type Swept struct {
	Reminded, Expired int
}

// dueRow is an approval a sweep changed.
type dueRow struct {
	ID        string
	ProjectID string
	KeyPath   string
}

// SweepDeadlines records what is due now: APPROVAL_EXPIRING for each
// pending approval whose reminder time has come, then, in the projects with
// expireOnTime, EXPIRED and APPROVAL_EXPIRED for each pending approval
// whose time has passed.
func (s *Service) SweepDeadlines(ctx context.Context) (Swept, error) {
	var swept Swept
	err := s.store.WithLock(ctx, deadlineLock, func(ctx context.Context) error {
		now := s.now()
		var leads []int
		err := s.store.DB(ctx).Raw(`SELECT DISTINCT remind_before_seconds FROM projects WHERE remind_before_seconds IS NOT NULL`).
			Scan(&leads).Error
		if err != nil {
			return fmt.Errorf("read reminder settings: %w", err)
		}
		for _, lead := range leads {
			for {
				n, err := s.remindDue(ctx, lead, now)
				swept.Reminded += n
				if err != nil {
					return err
				}
				if n < deadlineBatch {
					break
				}
			}
		}
		for {
			n, err := s.expireDue(ctx, now)
			swept.Expired += n
			if err != nil {
				return err
			}
			if n < deadlineBatch {
				return nil
			}
		}
	})
	return swept, err
}

// remindDue records APPROVAL_EXPIRING for up to deadlineBatch pending
// approvals of the projects that remind lead seconds ahead and whose
// reminder time has come. An approval created with less time than lead to
// live gets none: its reminder would have been due before it existed.
func (s *Service) remindDue(ctx context.Context, lead int, now time.Time) (int, error) {
	var due []dueRow
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		// Lifetimes are whole seconds, so half a second above lead keeps
		// SQLite's inexact arithmetic on the right side.
		err := s.store.DB(ctx).Raw(`UPDATE approvals SET reminded_at = ?
			WHERE id IN (SELECT a.id FROM approvals a JOIN projects p ON p.id = a.project_id
				WHERE p.remind_before_seconds = ? AND a.status = ? AND a.expires_at > ? AND a.expires_at <= ?
					AND a.reminded_at IS NULL AND `+s.store.SecondsBetween("a.created_at", "a.expires_at")+` > ?
				ORDER BY a.expires_at LIMIT ?)
			AND status = ? AND expires_at > ? AND reminded_at IS NULL
			RETURNING id, project_id, key_path`,
			now, lead, Pending, now, now.Add(time.Duration(lead)*time.Second), float64(lead)+0.5, deadlineBatch,
			Pending, now).Scan(&due).Error
		if err != nil {
			return fmt.Errorf("mark reminders %d s ahead: %w", lead, err)
		}
		return s.recordAll(ctx, due, event.ApprovalExpiring, now)
	})
	if err != nil {
		return 0, err
	}
	return len(due), nil
}

// expireDue makes up to deadlineBatch pending approvals of the projects
// with expireOnTime whose time has passed EXPIRED, recording
// APPROVAL_EXPIRED for each: the transition of Service.expire, for many.
func (s *Service) expireDue(ctx context.Context, now time.Time) (int, error) {
	var due []dueRow
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		err := s.store.DB(ctx).Raw(`UPDATE approvals SET status = ?
			WHERE id IN (SELECT a.id FROM approvals a JOIN projects p ON p.id = a.project_id
				WHERE p.expire_on_time AND a.status = ? AND a.expires_at <= ?
				ORDER BY a.expires_at LIMIT ?)
			AND status = ? AND expires_at <= ?
			RETURNING id, project_id, key_path`,
			Expired, Pending, now, deadlineBatch, Pending, now).Scan(&due).Error
		if err != nil {
			return fmt.Errorf("expire approvals past their deadline: %w", err)
		}
		return s.recordAll(ctx, due, event.ApprovalExpired, now)
	})
	if err != nil {
		return 0, err
	}
	return len(due), nil
}

// recordAll records an event of type t for each approval.
func (s *Service) recordAll(ctx context.Context, due []dueRow, t event.Type, now time.Time) error {
	for _, d := range due {
		r := row{ID: d.ID, ProjectID: d.ProjectID, KeyPath: d.KeyPath}
		if err := s.recorder.Record(ctx, r.event(t, now)); err != nil {
			return err
		}
	}
	return nil
}
