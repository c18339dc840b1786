package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// deferred holds the keys, indexes and foreign keys of some tables, read from the catalog and dropped so that
// a bulk load writes bare heaps; restore builds them again exactly as the migrations defined them (the
// definitions come from pg_get_indexdef and pg_get_constraintdef, so a new index in a migration needs no
// change here), and Postgres validates every foreign key as it is added back.
type deferred struct {
	indexes []deferredIndex // unique and plain indexes, those of primary keys and unique constraints included
	keys    []string        // ALTER TABLE ... ADD CONSTRAINT ... USING INDEX, once the indexes exist
	foreign []string        // ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY, last
}

type deferredIndex struct {
	table, name, create string
	rows                int64 // estimated rows of the table, to build the big ones first
}

// deferIndexes drops every index and key constraint of tables, and every foreign key from or to them.
func deferIndexes(ctx context.Context, pool *pgxpool.Pool, tables []string) (*deferred, error) {
	d := &deferred{}
	var drops []string
	rows, err := pool.Query(ctx, `
SELECT c.conrelid::regclass::text, c.conname, c.contype::text, pg_get_constraintdef(c.oid), COALESCE(pg_get_indexdef(c.conindid), '')
FROM pg_constraint c
WHERE (c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u'))
   OR (c.contype = 'f' AND (c.conrelid = ANY($1::regclass[]) OR c.confrelid = ANY($1::regclass[])))
ORDER BY c.contype DESC, c.conname`, tables)
	if err != nil {
		return nil, fmt.Errorf("read constraints: %w", err)
	}
	var keyDrops []string
	for rows.Next() {
		var table, name, kind, def, indexDef string
		if err := rows.Scan(&table, &name, &kind, &def, &indexDef); err != nil {
			rows.Close()
			return nil, err
		}
		drop := fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", table, pgx.Identifier{name}.Sanitize())
		switch kind {
		case "f":
			drops = append(drops, drop) // foreign keys go first: they depend on the keys they reference
			d.foreign = append(d.foreign, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", table, pgx.Identifier{name}.Sanitize(), def))
		default:
			keyDrops = append(keyDrops, drop)
			word := "PRIMARY KEY"
			if kind == "u" {
				word = "UNIQUE"
			}
			d.indexes = append(d.indexes, deferredIndex{table: table, name: name, create: indexDef})
			d.keys = append(d.keys, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s", table,
				pgx.Identifier{name}.Sanitize(), word, pgx.Identifier{name}.Sanitize()))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	drops = append(drops, keyDrops...)
	rows, err = pool.Query(ctx, `
SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY($1::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
ORDER BY 2`, tables)
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	for rows.Next() {
		var ix deferredIndex
		if err := rows.Scan(&ix.table, &ix.name, &ix.create); err != nil {
			rows.Close()
			return nil, err
		}
		d.indexes = append(d.indexes, ix)
		drops = append(drops, "DROP INDEX "+ix.name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, q := range drops {
		if _, err := pool.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return d, nil
}

// restore builds the indexes (two at a time, the biggest tables first: CREATE INDEX takes a SHARE lock, so
// builds on one table do not wait for each other), turns the key indexes into their constraints and adds the
// foreign keys back, which Postgres validates against the rows. It returns the time each step took.
func (d *deferred) restore(ctx context.Context, pool *pgxpool.Pool, workers int) ([]phase, error) {
	var out []phase
	sizes := map[string]int64{}
	for _, ix := range d.indexes {
		if _, ok := sizes[ix.table]; !ok {
			var n int64
			_ = pool.QueryRow(ctx, `SELECT count(*) FROM `+ix.table).Scan(&n)
			sizes[ix.table] = n
		}
	}
	for i := range d.indexes {
		d.indexes[i].rows = sizes[d.indexes[i].table]
	}
	sort.SliceStable(d.indexes, func(i, j int) bool { return d.indexes[i].rows > d.indexes[j].rows })

	start := time.Now()
	var stmts []string
	for _, ix := range d.indexes {
		stmts = append(stmts, ix.create)
	}
	if err := runParallel(ctx, pool, workers, stmts); err != nil {
		return nil, err
	}
	out = append(out, phase{fmt.Sprintf("build %d indexes (%d at a time)", len(d.indexes), workers), time.Since(start)})
	start = time.Now()
	for _, q := range d.keys {
		if _, err := pool.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := runParallel(ctx, pool, workers, d.foreign); err != nil {
		return nil, err
	}
	out = append(out, phase{fmt.Sprintf("add %d keys and %d foreign keys (validated)", len(d.keys), len(d.foreign)), time.Since(start)})
	return out, nil
}

// runParallel runs stmts on up to workers connections, each with room to sort in memory.
func runParallel(ctx context.Context, pool *pgxpool.Pool, workers int, stmts []string) error {
	ch := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pool.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '1GB'; SET work_mem = '256MB'`); err != nil {
				errs <- err
				return
			}
			for q := range ch {
				t := time.Now()
				if _, err := conn.Exec(ctx, q); err != nil {
					errs <- fmt.Errorf("%s: %w", q, err)
					return
				}
				logf("  %s (%s)", shorten(q, 110), time.Since(t).Round(time.Millisecond))
			}
		}()
	}
	var err error
feed:
	for _, q := range stmts {
		select {
		case ch <- q:
		case err = <-errs:
			break feed
		}
	}
	close(ch)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	for e := range errs {
		return e
	}
	return nil
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
