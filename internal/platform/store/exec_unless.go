package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// ExecAllUnless runs stmts as one unit, like ExecAll, and then check, a
// query of one boolean column, in the same transaction: when check's first
// row is true, the transaction rolls back and ExecAllUnless reports false,
// so that the caller does the work the general way (in a transaction of
// its own, with whatever true called for); otherwise it commits and
// reports true.
//
// On PostgreSQL this is two round trips (BEGIN, the statements and the
// check go to the server together; then COMMIT or ROLLBACK), where a
// transaction doing the same statement by statement takes one per
// statement. On SQLite, and inside a transaction carried by ctx, it does
// nothing and reports false.
func (s *Store) ExecAllUnless(ctx context.Context, check Stmt, stmts ...Stmt) (bool, error) {
	if s.dialect != Postgres || InTx(ctx) {
		return false, nil
	}
	var batch pgx.Batch
	batch.Queue("BEGIN")
	dry := s.db.Session(&gorm.Session{DryRun: true, NewDB: true})
	for _, st := range append(stmts, check) {
		built := dry.Exec(st.SQL, st.Args...)
		if built.Error != nil {
			return false, built.Error
		}
		batch.Queue(built.Statement.SQL.String(), built.Statement.Vars...)
		s.observeDirect(ctx, built.Statement.SQL.String())
	}
	done := false
	err := s.withPgxConn(ctx, func(c *pgx.Conn) error {
		br := c.SendBatch(ctx, &batch)
		var unless bool
		err := func() error {
			for range len(stmts) + 1 {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			if err := br.QueryRow().Scan(&unless); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return nil
		}()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		end := "COMMIT"
		if err != nil || unless {
			end = "ROLLBACK"
		}
		// A connection left inside the transaction (the end failed) is
		// dropped from the pool when it is handed back.
		if _, eerr := c.Exec(context.WithoutCancel(ctx), end); eerr != nil && err == nil {
			err = fmt.Errorf("%s: %w", end, eerr)
		}
		done = err == nil && !unless
		return translatePgxGone(err)
	})
	return done, err
}
