// Package eventlog is the dialect part of the events table read as an
// ordered log (docs/design/event-log.md): the horizon that makes a read
// final, the query that reads every project's log with that horizon, the
// announcement of new commits to the other instances (NOTIFY and LISTEN),
// and the lock under which one instance at a time fans events out. One
// Driver per database implements them, chosen once when the store opens
// (store.Store.EventLog), as River's driver packages do for its queue.
//
// The driver knows no domain type: platform packages may not import domain
// ones. It works on GORM statements instead of rows: it narrows or writes
// the statement, and the event package runs it into its own Event rows.
// The one value that crosses is Position, the (xid, id) place of an event
// in the log, which the event package names as its own (a type alias).
// So the column list of an event lives in one place (event.Event) and no
// row is copied between two types on the hot read paths.
package eventlog

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// Position is an event's place in the log: the writing transaction's ID
// (0 on SQLite), then the event ID.
type Position struct{ Xid, ID int64 }

// Before reports whether p comes before q in the log.
func (p Position) Before(q Position) bool {
	return p.Xid < q.Xid || (p.Xid == q.Xid && p.ID < q.ID)
}

// ChannelName is the channel on which instances announce that they
// committed events. The payload is a number in decimal (the sending
// instance's, so that it can ignore its own); it carries no event: every
// instance reads the rows itself, so the events table stays the single
// source of truth.
const ChannelName = "ottr_events"

// FanoutLockKey is the key of the advisory lock under which one instance
// at a time reads the log after the delivery cursor and moves it.
const FanoutLockKey = 0x6f7474725f666f75 // "ottr_fou"

// HorizonColumn is the column in which Since's rows carry their
// statement's horizon.
const HorizonColumn = "horizon"

// ErrNoListen is returned by NewListener of a database that other
// instances do not share (SQLite): there is nobody to hear.
var ErrNoListen = errors.New("event log: this database has no other instances to listen to")

// Driver is one database's part of the event log.
type Driver interface {
	// Final narrows a query of the events table to final events: those
	// below the horizon, whose transactions, and every transaction before
	// them, have ended. Use it as a GORM scope.
	Final(db *gorm.DB) *gorm.DB
	// Since is the statement reading up to limit events of every project
	// after position after, oldest first, each row with the horizon of
	// the statement's snapshot in HorizonColumn: the rows from the first
	// one at or above it on are not final yet (held back).
	Since(db *gorm.DB, after Position, limit int) *gorm.DB
	// Shared reports whether other instances may write to the database,
	// and so must be told of this instance's commits (Notify) and heard
	// (NewListener).
	Shared() bool
	// Notify tells the other instances, outside any transaction, that
	// events were committed. It does nothing where Shared is false.
	Notify(ctx context.Context, payload string) error
	// NewListener returns a listener that calls notify for every payload
	// another instance (or this one) announces; ErrNoListen where Shared
	// is false.
	NewListener(notify func(ctx context.Context, payload int64), opts ListenerOptions) (*Listener, error)
	// FanoutLock takes, in the transaction db runs in, the lock under
	// which one instance at a time fans events out, held until the
	// transaction ends. Where one writer commits at a time it takes none.
	FanoutLock(db *gorm.DB) error
}
