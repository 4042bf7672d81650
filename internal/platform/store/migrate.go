package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// provider loads the dialect's migrations. With locked, instances starting
// together on one PostgreSQL database take an advisory lock, so that one
// migrates while the others wait (SQLite has one writer anyway).
func (s *Store) provider(locked bool) (*goose.Provider, error) {
	dialect := goose.DialectPostgres
	if s.dialect == SQLite {
		dialect = goose.DialectSQLite3
	}
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.dialect, err)
	}
	var opts []goose.ProviderOption
	if locked && s.dialect == Postgres {
		// Retry every second for up to five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.sqlDB, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", s.dialect, err)
	}
	return p, nil
}

// Migrate applies every pending migration. Each runs in its own transaction;
// the first failure stops and is returned, naming the migration file.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider(true)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		results = partial.Applied
	}
	for _, r := range results {
		s.log().InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "took_ms", float64(r.Duration.Microseconds())/1000)
	}
	if partial != nil {
		return fmt.Errorf("apply %s migration %s: %w", s.dialect, partial.Failed.Source.Path, partial.Err)
	}
	if err != nil {
		return fmt.Errorf("apply %s migrations: %w", s.dialect, err)
	}
	return nil
}

// MigrationsPending reports whether the database lacks a known migration.
func (s *Store) MigrationsPending(ctx context.Context) (bool, error) {
	p, err := s.provider(false)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check %s migrations: %w", s.dialect, err)
	}
	return pending, nil
}
