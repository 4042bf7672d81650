package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed migrations
var migrations embed.FS

func (s *Store) provider() (*goose.Provider, error) {
	dialect := goose.DialectPostgres
	if s.dialect == SQLite {
		dialect = goose.DialectSQLite3
	}
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.dialect, err)
	}
	p, err := goose.NewProvider(dialect, s.sqlDB, dir)
	if err != nil {
		return nil, fmt.Errorf("load %s migrations: %w", s.dialect, err)
	}
	return p, nil
}

// Migrate applies every pending migration. Each runs in its own transaction;
// the first failure stops and is returned.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply %s migrations: %w", s.dialect, err)
	}
	for _, r := range results {
		s.logger.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// MigrationsPending reports whether the database lacks a known migration.
func (s *Store) MigrationsPending(ctx context.Context) (bool, error) {
	p, err := s.provider()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check %s migrations: %w", s.dialect, err)
	}
	return pending, nil
}
