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
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}
