package eventlog

import (
	"context"
	"math"
	"strconv"

	"gorm.io/gorm"
)

// SQLite is the event log on the embedded SQLite file: one instance, one
// writer committing at a time, in ID order. xid is always 0 and everything
// committed is final, so the horizon is above every row.
type SQLite struct{}

// NewSQLite returns the SQLite driver.
func NewSQLite() SQLite { return SQLite{} }

// Final keeps every row: all of them are committed and final.
func (SQLite) Final(db *gorm.DB) *gorm.DB { return db }

// Since reads the rows after after; the horizon is above them all.
func (SQLite) Since(db *gorm.DB, after Position, limit int) *gorm.DB {
	return db.Raw(`SELECT *, `+strconv.FormatInt(math.MaxInt64, 10)+` AS `+HorizonColumn+` FROM events WHERE (xid, id) > (?, ?) ORDER BY xid, id LIMIT ?`,
		after.Xid, after.ID, limit)
}

// Shared is false: one instance serves one SQLite file.
func (SQLite) Shared() bool { return false }

// Notify does nothing: there is no other instance to tell.
func (SQLite) Notify(context.Context, string) error { return nil }

// NewListener returns ErrNoListen: there is no other instance to hear.
func (SQLite) NewListener(func(context.Context, int64), ListenerOptions) (*Listener, error) {
	return nil, ErrNoListen
}

// FanoutLock takes no lock: the transaction is immediate, so it already
// holds the database's one write lock.
func (SQLite) FanoutLock(*gorm.DB) error { return nil }
