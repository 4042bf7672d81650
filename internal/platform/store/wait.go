package store

import (
	"context"

	"gorm.io/gorm"
)

type waitNoticeKey struct{}

// WithWaitNotice returns ctx with notice, which the store calls before each
// statement it sends in ctx (or in a context made from it) and waits for,
// with the statement's own context: GORM's, QueryRow's, Each's, ExecAll's,
// a transaction's beginning, an advisory lock. The GraphQL server uses it
// to start the other elements of a list at once when one of them is about
// to wait for the database, as they would otherwise wait one after another.
func WithWaitNotice(ctx context.Context, notice func(context.Context)) context.Context {
	return context.WithValue(ctx, waitNoticeKey{}, notice)
}

// noticeWait tells ctx's notice, if any, that a statement is about to be
// sent.
func noticeWait(ctx context.Context) {
	if notice, ok := ctx.Value(waitNoticeKey{}).(func(context.Context)); ok {
		notice(ctx)
	}
}

// OnDirectStatement has f see every statement the store sends without GORM
// (QueryRow, Each, ExecAll's and ExecAllUnless's batches on PostgreSQL),
// with its context, before it is sent: GORM's own callbacks see the rest.
// Set it before the store is used.
func (s *Store) OnDirectStatement(f func(ctx context.Context, sql string)) { s.direct = f }

// observeDirect shows a statement sent without GORM to the
// OnDirectStatement function, if any.
func (s *Store) observeDirect(ctx context.Context, sql string) {
	if s.direct != nil {
		s.direct(ctx, sql)
	}
}

// registerWaitNotice has GORM notice every statement it runs.
func registerWaitNotice(db *gorm.DB) error {
	notice := func(db *gorm.DB) {
		if ctx := db.Statement.Context; ctx != nil {
			noticeWait(ctx)
		}
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register("store:notice_wait", notice),
		cb.Query().Before("gorm:query").Register("store:notice_wait", notice),
		cb.Update().Before("gorm:update").Register("store:notice_wait", notice),
		cb.Delete().Before("gorm:delete").Register("store:notice_wait", notice),
		cb.Row().Before("gorm:row").Register("store:notice_wait", notice),
		cb.Raw().Before("gorm:raw").Register("store:notice_wait", notice),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
