package project

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// Lock order. Every transaction that writes a project's rows takes its row
// locks in this order, so that no two wait for each other in a circle
// (PostgreSQL would abort one of them with a deadlock):
//
//  1. The project's row. Delete takes it FOR UPDATE; RemoveMember FOR NO
//     KEY UPDATE, so that owner removals take turns; every other writer
//     whose transaction locks more than one row takes it FOR KEY SHARE
//     first (LockForWrite, LockManyForWrite), which writers share and a
//     delete waits for.
//  2. Its children. Among them, a delivery comes before its attempts and
//     its channel (a Slack channel, a webhook endpoint, or the approval of
//     a callback): the delivery worker starts and settles an attempt on
//     the delivery's row first, then the attempt's, then the channel's.
//     So removing a channel (or a project) deletes the deliveries of
//     every kind, whose attempts go with them, before the channels' rows,
//     rather than leaving the order to the cascade. Deliveries among
//     themselves go in event order: a settle wakes the next delivery of
//     its approval.
//
// So a delete waits for the writers that hold the project's row and holds
// no child they wait for, and a writer that comes after the delete waits
// for it, then finds no project and answers NOT_FOUND. A single-statement
// write (setKey, createApiKey) needs no lock: its foreign-key check locks
// the project's row itself, and a violation is NOT_FOUND (see store).
// SQLite runs one write transaction at a time and needs none of this: the
// statements then only check that the project still exists.

var lockForWrite = store.NewLockingQuery("SELECT 1 FROM projects WHERE id = ?", store.LockKeyShare)

// LockForWrite takes the project's row in ctx's transaction before the
// transaction locks any row under it (step 1 of the lock order), and
// answers NOT_FOUND when the project is gone.
func LockForWrite(ctx context.Context, st *store.Store, projectID string) error {
	var one int
	err := st.QueryRow(ctx, lockForWrite, projectID).Scan(&one)
	if store.IsNotFound(err) {
		return apperr.NotFound("project")
	}
	if err != nil {
		return fmt.Errorf("lock project %s: %w", projectID, err)
	}
	return nil
}

// LockManyForWrite is LockForWrite for several projects at once (the
// delivery fan-out's batch): it takes the rows in id order and returns the
// ids of the projects that still exist.
func LockManyForWrite(ctx context.Context, st *store.Store, projectIDs []string) ([]string, error) {
	var live []string
	if len(projectIDs) == 0 {
		return live, nil
	}
	q := st.DB(ctx).Model(&Project{}).Where("id IN ?", projectIDs).Order("id").Scopes(st.RowLock(store.LockKeyShare))
	if err := q.Pluck("id", &live).Error; err != nil {
		return nil, fmt.Errorf("lock %d projects: %w", len(projectIDs), err)
	}
	return live, nil
}

// DeleteDeliveries deletes, in ctx's transaction, the rows of a deliveries
// table that where selects, as rule 2 orders them: on PostgreSQL it first
// takes them in event order, because the worker that settles a delivery
// wakes the next one of its approval (a later event's) in the same
// transaction, while a DELETE alone takes rows in the order of its scan.
func DeleteDeliveries(ctx context.Context, st *store.Store, table, where string, args ...any) error {
	db := st.DB(ctx)
	if lock := st.RowLockSQL(store.LockUpdate); lock != "" {
		if err := db.Exec("SELECT 1 FROM "+table+" WHERE "+where+" ORDER BY event_id, id"+lock, args...).Error; err != nil {
			return fmt.Errorf("lock the %s: %w", table, err)
		}
	}
	if err := db.Exec("DELETE FROM "+table+" WHERE "+where, args...).Error; err != nil {
		return fmt.Errorf("delete the %s: %w", table, err)
	}
	return nil
}
