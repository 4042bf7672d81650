package eventlog

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"
)

// pgHorizon is, in a PostgreSQL statement, the oldest transaction ID its
// snapshot still sees running: every transaction below it has ended, and
// every transaction that starts later gets a larger one.
const pgHorizon = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint`

// Postgres is the event log on PostgreSQL: instances share the database,
// writers commit side by side, and the horizon comes from the snapshot.
type Postgres struct {
	db  *sql.DB
	dsn string
}

// NewPostgres returns the PostgreSQL driver. db is the pool announcements
// go through; dsn is where listeners connect, directly (LISTEN does not
// work through a transaction pooler).
func NewPostgres(db *sql.DB, dsn string) *Postgres { return &Postgres{db: db, dsn: dsn} }

// Final keeps the rows below the horizon.
func (*Postgres) Final(db *gorm.DB) *gorm.DB { return db.Where("xid < " + pgHorizon) }

// Since reads the rows after after with the statement's horizon.
func (*Postgres) Since(db *gorm.DB, after Position, limit int) *gorm.DB {
	return db.Raw(`SELECT *, `+pgHorizon+` AS `+HorizonColumn+` FROM events WHERE (xid, id) > (?, ?) ORDER BY xid, id LIMIT ?`,
		after.Xid, after.ID, limit)
}

// Shared is true: any number of instances share one PostgreSQL database.
func (*Postgres) Shared() bool { return true }

// Notify sends payload on ChannelName. It runs on its own, never inside
// the recording transaction: a transaction that notifies holds a lock of
// the whole PostgreSQL server from its commit until the commit is flushed.
func (p *Postgres) Notify(ctx context.Context, payload string) error {
	if _, err := p.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", ChannelName, payload); err != nil {
		return fmt.Errorf("notify %s: %w", ChannelName, err)
	}
	return nil
}

// NewListener returns a listener on its own connection to the store's
// database; opts.Channel empty means ChannelName.
func (p *Postgres) NewListener(notify func(ctx context.Context, payload int64), opts ListenerOptions) (*Listener, error) {
	return NewListener(p.dsn, notify, opts)
}

// FanoutLock takes the transaction-scoped advisory lock FanoutLockKey.
func (*Postgres) FanoutLock(db *gorm.DB) error {
	if err := db.Exec("SELECT pg_advisory_xact_lock(?)", int64(FanoutLockKey)).Error; err != nil {
		return fmt.Errorf("wait for the fan-out's turn: %w", err)
	}
	return nil
}
