// Package pg holds the Postgres side of recordshop, the source of truth: the pgx pool, the embedded migrations
// and one repository file per table (customers, discs, orders, stock_events, settings), plus the consistent
// ledger read reconcile compares against. SQL sits as a const next to the function that runs it, with
// parameters only; batch writes use unnest arrays and ON CONFLICT; driver errors become biz/model's domain
// errors here, once.
//
// It must not hold business rules beyond what a constraint or a transaction guarantees (the ledger identity,
// stock never negative), must not import biz/service or anything above it, and must not touch Redis.
package pg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every embedded migration that the database has not seen yet. A Postgres advisory lock
// serialises concurrent callers, so several replicas may start at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	return migrate(ctx, pool, "migrate", func(p *goose.Provider) ([]*goose.MigrationResult, error) { return p.Up(ctx) })
}

// MigrateTo applies the migrations the database has not seen yet, up to and including version, and says which.
// It is for tools that must build a database at an older schema and migrate it later, as an existing shop is
// (bench/cmd/history fills a database at version 2 and then times `recordshop migrate`; the totals backfill
// test migrates a filled database); the shop itself always runs Migrate. The same advisory lock serialises it
// with Migrate.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int64) ([]string, error) {
	return migrate(ctx, pool, fmt.Sprintf("migrate_to %d", version), func(p *goose.Provider) ([]*goose.MigrationResult, error) {
		return p.UpTo(ctx, version)
	})
}

// migrate runs up on a goose provider of the embedded .sql migrations and the Go ones (goMigrations), and
// names what it applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, op string, up func(*goose.Provider) ([]*goose.MigrationResult, error)) ([]string, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker),
		goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	results, err := up(provider)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		name := r.Source.Path
		if name == "" {
			name = fmt.Sprintf("%05d (go)", r.Source.Version)
		}
		applied = append(applied, name)
	}
	return applied, nil
}
