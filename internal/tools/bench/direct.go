package bench

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/ottr/backend/internal/platform/store"
)

// direct is the baselines' own connection to the server's database: pgx
// on PostgreSQL (its pool, statements prepared and cached per connection
// as the server's pgx does), database/sql with the server's SQLite driver
// and settings on SQLite. It sends SQL and nothing else.
type direct struct {
	dialect store.Dialect
	pg      *pgxpool.Pool
	lite    *store.Store // only its *sql.DB is used
	rebound sync.Map     // statement → its SQLite form
	// Insert-only River clients: they send River's own statements for the
	// delivery jobs of an event, as the server's dispatcher does.
	riverPG   *river.Client[pgx.Tx]
	riverLite *river.Client[*sql.Tx]
}

// openDirect connects to the env's database with room for conns
// concurrent transactions, until the env closes.
func (e *env) openDirect(ctx context.Context, conns int) (*direct, error) {
	d, err := connect(ctx, e.dialect, e.dbURL, e.dataDir, conns)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, d.close)
	return d, nil
}

// connect opens the PostgreSQL database at dbURL, or the SQLite database
// in dataDir.
func connect(ctx context.Context, dialect store.Dialect, dbURL, dataDir string, conns int) (*direct, error) {
	d := &direct{dialect: dialect}
	if dialect == store.SQLite {
		// store.Open gives the same DSN (WAL, busy timeout, immediate
		// transactions) and pool size as the server's.
		s, err := store.Open(ctx, "", dataDir)
		if err != nil {
			return nil, err
		}
		d.lite = s
		if d.riverLite, err = river.NewClient(riversqlite.New(s.SQL()), &river.Config{}); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("baseline River client: %w", err)
		}
		return d, nil
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("baseline connection: %w", err)
	}
	cfg.MaxConns = int32(max(conns, 4))
	if d.pg, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("baseline connection: %w", err)
	}
	if d.riverPG, err = river.NewClient(riverpgxv5.New(d.pg), &river.Config{}); err != nil {
		d.pg.Close()
		return nil, fmt.Errorf("baseline River client: %w", err)
	}
	return d, nil
}

// enqueue inserts River jobs in q's transaction and returns their ids.
func (d *direct) enqueue(ctx context.Context, q querier, params []river.InsertManyParams) ([]int64, error) {
	var (
		res []*rivertype.JobInsertResult
		err error
	)
	switch r := q.(type) {
	case pgxQuerier:
		res, err = d.riverPG.InsertManyTx(ctx, r.r.(pgx.Tx), params)
	case sqlQuerier:
		res, err = d.riverLite.InsertManyTx(ctx, r.r.(*sql.Tx), params)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}

func (d *direct) close() error {
	if d.pg != nil {
		d.pg.Close()
		return nil
	}
	return d.lite.Close()
}

// querier runs statements on the pool or in a transaction.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	queryRow(ctx context.Context, query string, args ...any) row
	// query calls scan once per row of the result.
	query(ctx context.Context, scan func(row) error, query string, args ...any) error
}

// row is pgx.Row or *sql.Row.
type row interface{ Scan(dest ...any) error }

// eachRow scans every row of pgx's or database/sql's result set.
func eachRow(rows interface {
	row
	Next() bool
	Err() error
}, scan func(row) error) error {
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// stmt is a statement written for PostgreSQL ($1, $2, …) in the form the
// dialect takes: SQLite reads $1 as a name, so it becomes ?1.
func (d *direct) stmt(query string) string {
	if d.dialect != store.SQLite {
		return query
	}
	if s, ok := d.rebound.Load(query); ok {
		return s.(string)
	}
	s := placeholder.ReplaceAllString(query, "?$1")
	d.rebound.Store(query, s)
	return s
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

func (d *direct) db() querier {
	if d.pg != nil {
		return pgxQuerier{d.pg}
	}
	return sqlQuerier{d.lite.SQL()}
}

// tx runs fn in one transaction, committed when fn returns nil.
func (d *direct) tx(ctx context.Context, fn func(q querier) error) error {
	if d.pg != nil {
		return pgx.BeginFunc(ctx, d.pg, func(tx pgx.Tx) error { return fn(pgxQuerier{tx}) })
	}
	tx, err := d.lite.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqlQuerier{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgxQuerier struct{ r pgxRunner }

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.r.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgxQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.r.QueryRow(ctx, query, args...)
}

func (q pgxQuerier) query(ctx context.Context, scan func(row) error, query string, args ...any) error {
	rows, err := q.r.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, scan)
}

type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type sqlQuerier struct{ r sqlRunner }

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.r.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.r.QueryRowContext(ctx, query, args...)
}

func (q sqlQuerier) query(ctx context.Context, scan func(row) error, query string, args ...any) error {
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, scan)
}
