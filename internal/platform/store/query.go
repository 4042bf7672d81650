package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Query is one SQL statement for the hottest reads, written once with ?
// placeholders and kept in the form each dialect takes. It runs without
// GORM's statement building and reflection (see QueryRow).
type Query struct{ sqlite, postgres string }

// NewQuery prepares q, whose parameters are ? (none inside literals).
func NewQuery(q string) Query {
	var pg strings.Builder
	n := 0
	for _, part := range strings.SplitAfter(q, "?") {
		if strings.HasSuffix(part, "?") {
			n++
			part = part[:len(part)-1] + "$" + strconv.Itoa(n)
		}
		pg.WriteString(part)
	}
	return Query{sqlite: q, postgres: pg.String()}
}

// ListQuery is a Query whose last parameter is a list of strings, written
// "IN ?" once. PostgreSQL takes the list as one array parameter
// (= ANY($n)), so the statement is one prepared statement whatever the
// list's length and binds one parameter; SQLite takes one parameter per
// item.
type ListQuery struct{ sqlite, postgres string }

// NewListQuery prepares q, whose parameters are ? (none inside literals)
// and whose list is written "IN ?", exactly once.
func NewListQuery(q string) ListQuery {
	if strings.Count(q, "IN ?") != 1 {
		panic("store: a list query has exactly one IN ?: " + q)
	}
	return ListQuery{sqlite: q, postgres: NewQuery(strings.Replace(q, "IN ?", "= ANY(?)", 1)).postgres}
}

// WithList is q with args and list after them, as Each runs it on the
// store's dialect. An empty list matches no row.
func (s *Store) WithList(q ListQuery, args []any, list []string) (Query, []any) {
	if s.dialect != SQLite {
		return Query{postgres: q.postgres}, append(args, list)
	}
	in := "IN (NULL)"
	if len(list) > 0 {
		in = "IN (?" + strings.Repeat(", ?", len(list)-1) + ")"
	}
	for _, v := range list {
		args = append(args, v)
	}
	return Query{sqlite: strings.Replace(q.sqlite, "IN ?", in, 1)}, args
}

// Row is a QueryRow to run; Scan runs it.
type Row struct {
	ctx  context.Context
	s    *Store
	q    Query
	args []any
}

// QueryRow returns q with args, to run on the transaction carried by ctx, or
// on the pool, when its Scan is called. For reads on every request, where
// GORM's statement building and reflective scanning cost more than the
// query: the caller names the columns and scans them into plain fields.
func (s *Store) QueryRow(ctx context.Context, q Query, args ...any) Row {
	return Row{ctx: ctx, s: s, q: q, args: args}
}

// Scan runs the query and copies its first row's columns into dest, in
// order. A missing row is gorm.ErrRecordNotFound, as from Take, so that
// IsNotFound works on both paths.
func (r Row) Scan(dest ...any) error {
	err := r.scan(dest)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return gorm.ErrRecordNotFound
	}
	return err
}

func (r Row) scan(dest []any) error {
	ctx, s := r.ctx, r.s
	text := r.q.postgres
	if s.dialect == SQLite {
		text = r.q.sqlite
	}
	s.observeDirect(ctx, text)
	if InTx(ctx) {
		tx, err := SQLTx(ctx)
		if err != nil {
			return err
		}
		noticeWait(ctx)
		return tx.QueryRowContext(ctx, text, r.args...).Scan(dest...)
	}
	if s.dialect == SQLite {
		noticeWait(ctx)
		return s.sqlDB.QueryRowContext(ctx, text, r.args...).Scan(dest...)
	}
	// On PostgreSQL, pgx itself scans into the fields, without
	// database/sql's conversions, through the connection's statement cache.
	return s.withPgxConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, text, r.args...).Scan(dest...)
	})
}

// OneStatement reports whether a change may be written as one statement of
// data-modifying WITH clauses that commits on its own: on PostgreSQL,
// outside a transaction carried by ctx. SQLite has no data-modifying WITH;
// there, and inside a transaction, the change takes its statements one by
// one in a transaction.
func (s *Store) OneStatement(ctx context.Context) bool { return s.dialect == Postgres && !InTx(ctx) }

// Built is the statement a Find into dest would run from db, a GORM
// builder of the store's dialect, with its arguments, built without
// running it: for reads whose conditions vary (filters, cursors, IN lists)
// and that Each then runs and scans without GORM's reflection. The builder
// must name its columns (Select) in the order the caller scans them.
func Built(db *gorm.DB, dest any) (Query, []any, error) {
	built := db.Session(&gorm.Session{DryRun: true}).Find(dest)
	if built.Error != nil {
		return Query{}, nil, built.Error
	}
	text := built.Statement.SQL.String()
	return Query{sqlite: text, postgres: text}, built.Statement.Vars, nil
}

// Each runs q with args, on the transaction carried by ctx or on the pool,
// and calls fn once for each row, in order, with scan copying that row's
// columns into the fields it is given. An error of fn stops the read and is
// returned as it is. The multi-row counterpart of QueryRow.
func (s *Store) Each(ctx context.Context, q Query, args []any, fn func(scan func(dest ...any) error) error) error {
	text := q.postgres
	if s.dialect == SQLite {
		text = q.sqlite
	}
	s.observeDirect(ctx, text)
	if InTx(ctx) {
		tx, err := SQLTx(ctx)
		if err != nil {
			return err
		}
		return eachSQL(ctx, tx, text, args, fn)
	}
	if s.dialect == SQLite {
		return eachSQL(ctx, s.sqlDB, text, args, fn)
	}
	return s.withPgxConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, text, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return eachRow(rows, fn)
	})
}

func eachSQL(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, text string, args []any, fn func(scan func(dest ...any) error) error) error {
	noticeWait(ctx)
	rows, err := db.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, fn)
}

// eachRow hands each row of pgx's or database/sql's rows to fn.
func eachRow(rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}, fn func(scan func(dest ...any) error) error) error {
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
