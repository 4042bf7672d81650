// Package store opens the database (PostgreSQL or the embedded SQLite file),
// applies the versioned migrations, and carries transactions in the context
// so that domain functions compose inside one transaction. Dialect
// differences live here and nowhere else.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/libtnb/sqlite"
	"github.com/ottr/backend/internal/platform/store/eventlog"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the database in use.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is the open database.
type Store struct {
	db       *gorm.DB
	sqlDB    *sql.DB
	dialect  Dialect
	dsn      string
	logger   atomic.Pointer[slog.Logger]
	eventLog eventlog.Driver
	// direct sees the statements sent without GORM (OnDirectStatement).
	direct func(ctx context.Context, sql string)
}

// Now is the clock every row is stamped with: UTC, at the microsecond
// precision both databases keep, so that a value read back equals the value
// written and SQLite's text timestamps sort in time order.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NullIfEmpty is s for a nullable text column: NULL when empty.
func NullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Open connects to PostgreSQL when databaseURL is set, otherwise to the
// SQLite file ottr.db in dataDir.
func Open(ctx context.Context, databaseURL, dataDir string) (*Store, error) {
	return open(ctx, databaseURL, dataDir, DefaultRoomWait, slog.Default())
}

// open is Open, waiting up to roomWait for PostgreSQL to have room for
// each new connection, and logging to log until SetLogger.
func open(ctx context.Context, databaseURL, dataDir string, roomWait time.Duration, log *slog.Logger) (*Store, error) {
	gcfg := &gorm.Config{
		TranslateError:         true,
		NowFunc:                Now,
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
	}
	var (
		s   = &Store{}
		err error
	)
	s.SetLogger(log)
	if databaseURL != "" {
		s.dialect, s.dsn = Postgres, databaseURL
		pgCfg, perr := pgx.ParseConfig(databaseURL)
		if perr != nil {
			return nil, fmt.Errorf("parse the PostgreSQL URL: %w", perr)
		}
		pool := sql.OpenDB(&roomWaitingConnector{Connector: stdlib.GetConnector(*pgCfg), wait: roomWait, logger: s.log})
		s.db, err = gorm.Open(postgres.New(postgres.Config{Conn: pool}), gcfg)
		if err != nil {
			_ = pool.Close()
		}
	} else {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w", dataDir, err)
		}
		s.dialect, s.dsn = SQLite, SQLiteDSN(filepath.Join(dataDir, "ottr.db"))
		s.db, err = gorm.Open(sqlite.Open(s.dsn), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", s.dialect, err)
	}
	if err := registerTranslations(s.db); err != nil {
		return nil, fmt.Errorf("open %s database: %w", s.dialect, err)
	}
	if err := registerWaitNotice(s.db); err != nil {
		return nil, fmt.Errorf("open %s database: %w", s.dialect, err)
	}
	if s.sqlDB, err = s.db.DB(); err != nil {
		return nil, fmt.Errorf("open %s database: %w", s.dialect, err)
	}
	if s.dialect == SQLite {
		// Writers queue on the busy timeout; immediate transactions take the
		// write lock up front so that none fails half-way with SQLITE_BUSY.
		const conns = 8
		s.sqlDB.SetMaxOpenConns(conns)
		// Keep every released connection: database/sql's default of two
		// idle ones would close the others as soon as they are handed back
		// (often right after a cancelled query), and reopening one costs a
		// file open and the DSN's pragmas.
		s.sqlDB.SetMaxIdleConns(conns)
	} else {
		s.sqlDB.SetMaxOpenConns(32)
		s.sqlDB.SetMaxIdleConns(32)
	}
	s.sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if s.dialect == Postgres {
		s.eventLog = eventlog.NewPostgres(s.sqlDB, s.dsn)
	} else {
		s.eventLog = eventlog.NewSQLite()
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.sqlDB.PingContext(pingCtx); err != nil {
		_ = s.sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect, err)
	}
	return s, nil
}

// SQLiteDSN is the connection string for the embedded database file: foreign
// keys on, WAL so readers never wait for the writer, a busy timeout so
// writers queue instead of failing, and immediate transactions (a deferred
// one that reads, then writes, fails at once with SQLITE_BUSY when another
// writer got in between). Times are written as text in SQLite's format
// (2006-01-02 15:04:05.999999999-07:00), which sorts in time order for
// UTC values; text and integers come back as they are, parsed into times only
// in columns declared DATETIME, so a string that merely looks like a date
// stays a string (the dialector would turn both conversions on otherwise).
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate&_time_format=sqlite&_texttotime=0&_inttotime=0"
}

// SetLogger sets where the store logs (migrations applied).
func (s *Store) SetLogger(l *slog.Logger) { s.logger.Store(l) }

// log is where the store logs; connections may open on any goroutine.
func (s *Store) log() *slog.Logger { return s.logger.Load() }

// Dialect reports which database is open.
func (s *Store) Dialect() Dialect { return s.dialect }

// EventLog is the event log's driver for the open database: the horizon,
// announcements between instances and the fan-out lock.
func (s *Store) EventLog() eventlog.Driver { return s.eventLog }

// DSN is the connection string the store was opened with.
func (s *Store) DSN() string { return s.dsn }

// SQL is the underlying connection pool.
func (s *Store) SQL() *sql.DB { return s.sqlDB }

// Close closes the connection pool.
func (s *Store) Close() error { return s.sqlDB.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.sqlDB.PingContext(ctx) }

type txKey struct{}

type txState struct {
	tx          *gorm.DB
	afterCommit []func()
}

// DB returns the transaction carried by ctx, or the pool bound to ctx.
func (s *Store) DB(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return s.db.WithContext(ctx)
}

// InTx reports whether ctx carries a transaction.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}

// WithTx runs fn in a transaction carried by the context it is given. Inside
// an outer transaction it joins that one. Functions registered with
// AfterCommit run once the outermost transaction has committed.
func (s *Store) WithTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	st := &txState{}
	noticeWait(ctx) // its BEGIN
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		st.tx = tx
		return fn(context.WithValue(ctx, txKey{}, st))
	})
	if err != nil {
		return err
	}
	for _, f := range st.afterCommit {
		f()
	}
	return nil
}

// SQLTx returns the database/sql transaction carried by ctx, for libraries
// that write inside it (River's InsertTx).
func SQLTx(ctx context.Context) (*sql.Tx, error) {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return nil, errors.New("no transaction in context")
	}
	tx, ok := st.tx.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return nil, fmt.Errorf("transaction is a %T, not a *sql.Tx", st.tx.Statement.ConnPool)
	}
	return tx, nil
}

// WithLock runs fn holding a PostgreSQL advisory lock, so that instances
// doing the same work at once (migrations of a library) take turns. One
// SQLite file serves one instance: there fn just runs.
func (s *Store) WithLock(ctx context.Context, key int64, fn func(ctx context.Context) error) error {
	if s.dialect != Postgres {
		return fn(ctx)
	}
	noticeWait(ctx)
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("advisory lock %d: %w", key, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("take advisory lock %d: %w", key, err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) }()
	return fn(ctx)
}

// Stmt is one SQL statement, with ? placeholders, and its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// ExecAll runs statements as one unit: all of them take effect, or, when
// one fails, none. On PostgreSQL they go to the server together, in one
// round trip, and run there as one implicit transaction (a pipeline with a
// single Sync, committed like any other); on SQLite, in a transaction.
// Inside a transaction carried by ctx they run in that one.
func (s *Store) ExecAll(ctx context.Context, stmts ...Stmt) error {
	if s.dialect != Postgres || InTx(ctx) {
		return s.WithTx(ctx, func(ctx context.Context) error {
			for _, st := range stmts {
				if err := s.DB(ctx).Exec(st.SQL, st.Args...).Error; err != nil {
					return err
				}
			}
			return nil
		})
	}
	// GORM writes the placeholders ($1, …) and expands the arguments as it
	// would for Exec, without running anything.
	var batch pgx.Batch
	dry := s.db.Session(&gorm.Session{DryRun: true, NewDB: true})
	for _, st := range stmts {
		built := dry.Exec(st.SQL, st.Args...)
		if built.Error != nil {
			return built.Error
		}
		batch.Queue(built.Statement.SQL.String(), built.Statement.Vars...)
		s.observeDirect(ctx, built.Statement.SQL.String())
	}
	return s.withPgxConn(ctx, func(c *pgx.Conn) error {
		return translatePgxGone(c.SendBatch(ctx, &batch).Close())
	})
}

// withPgxConn runs fn on a connection of the pool as pgx's own, for what
// database/sql cannot express (batches) or does more slowly (scans). A
// connection pgx closes on an error is dropped from the pool when it is
// handed back.
func (s *Store) withPgxConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	noticeWait(ctx)
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: connection is a %T, not pgx's", driverConn)
		}
		return fn(c.Conn())
	})
}

// AfterCommit runs f after the transaction in ctx commits, or at once when
// ctx carries none. Nothing registered runs after a rollback.
func AfterCommit(ctx context.Context, f func()) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.afterCommit = append(st.afterCommit, f)
		return
	}
	f()
}

// IsDuplicate reports a unique constraint violation.
func IsDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// IsNotFound reports that a First/Take found no row.
func IsNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }

// NewID returns a new row id: a UUIDv7, unguessable enough to show and
// ordered by creation time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
