package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// RiverDriver returns River's driver for the open database, on the
// store's pool so that InsertTx joins the transaction carried by a
// context (SQLTx), and close, which frees what the driver holds of its
// own. On PostgreSQL that is a small pgx pool for the LISTEN connection
// that wakes the workers when a transaction with jobs commits.
func (s *Store) RiverDriver(ctx context.Context) (drv riverdriver.Driver[*sql.Tx], close func(), err error) {
	switch s.dialect {
	case Postgres:
		cfg, err := pgxpool.ParseConfig(s.dsn)
		if err != nil {
			return nil, nil, fmt.Errorf("river listener: %w", err)
		}
		cfg.MinConns, cfg.MaxConns = 0, 2
		listener, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("river listener: %w", err)
		}
		return riverdatabasesql.NewWithPgxListener(s.sqlDB, listener), listener.Close, nil
	case SQLite:
		return riversqlite.New(s.sqlDB), func() {}, nil
	}
	return nil, nil, fmt.Errorf("river: unsupported database %s", s.dialect)
}
