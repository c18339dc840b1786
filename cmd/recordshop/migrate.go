package main

import (
	"context"
	"fmt"
	"io"

	"github.com/learecordshop/recordshop/dal/pg"
)

// runMigrate applies every pending migration to RS_PG_URL and says which.
func runMigrate(ctx context.Context, cfg config, stdout, _ io.Writer) error {
	if err := cfg.validate(true, false, false); err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, cfg.PGURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := pg.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "migrate: the database is up to date")
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "migrate: applied", name)
	}
	return nil
}
