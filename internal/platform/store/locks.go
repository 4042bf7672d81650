package store

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Row locks. On PostgreSQL writers run side by side and take the rows
// they depend on, in a fixed order, in their transaction; SQLite's
// immediate transactions hold the database's one write lock from BEGIN,
// so there the same reads lock nothing and merely read.

// Lock strengths of RowLock and RowLockSQL.
const (
	LockUpdate   = "UPDATE"
	LockKeyShare = "KEY SHARE"
)

// Shared reports whether other instances may use the database at the same
// time (PostgreSQL). One instance serves a SQLite file, one write
// transaction at a time.
func (s *Store) Shared() bool { return s.eventLog.Shared() }

// RowLock is a GORM scope that locks the rows the query reads with
// strength (LockUpdate, LockKeyShare) until the transaction ends, on
// PostgreSQL; on SQLite it leaves the query as it is.
func (s *Store) RowLock(strength string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if s.dialect != Postgres {
			return db
		}
		return db.Clauses(clause.Locking{Strength: strength})
	}
}

// RowLockSQL is RowLock for a raw SELECT: " FOR <strength>" to append to
// it on PostgreSQL, nothing on SQLite.
func (s *Store) RowLockSQL(strength string) string {
	if s.dialect != Postgres {
		return ""
	}
	return " FOR " + strength
}

// LockRowsTx locks the rows of table whose id is among ids FOR UPDATE in
// tx until it ends (PostgreSQL), so that no other transaction changes
// them meanwhile (River's fetch and completer lock a job's row too). On
// SQLite tx already keeps every other writer out.
func (s *Store) LockRowsTx(ctx context.Context, tx *sql.Tx, table string, ids ...int64) error {
	if s.dialect != Postgres || len(ids) == 0 {
		return nil
	}
	var err error
	if len(ids) == 1 {
		_, err = tx.ExecContext(ctx, "SELECT 1 FROM "+table+" WHERE id = $1 FOR UPDATE", ids[0])
	} else {
		_, err = tx.ExecContext(ctx, "SELECT 1 FROM "+table+" WHERE id = ANY($1) FOR UPDATE", ids)
	}
	if err != nil {
		return fmt.Errorf("lock %d rows of %s: %w", len(ids), table, err)
	}
	return nil
}

// NewLockingQuery prepares q (see NewQuery), a SELECT that on PostgreSQL
// locks the rows it reads with strength (RowLockSQL) and on SQLite, whose
// write lock already holds them, merely reads them.
func NewLockingQuery(q, strength string) Query {
	return Query{sqlite: NewQuery(q).sqlite, postgres: NewQuery(q + " FOR " + strength).postgres}
}
