package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
)

// totalsBackfillVersion is the migration that fills the running totals of migration 4 for the discs that were
// there before it.
const totalsBackfillVersion = 5

// goMigrations are the migrations written in Go, beside the embedded .sql files.
func goMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(totalsBackfillVersion, &goose.GoFunc{RunDB: backfillTotals}, &goose.GoFunc{}),
	}
}

// totalsChunk is how many discs one backfill transaction fills. It holds their rows locked while it sums their
// orders, so writers of those discs wait for it (their orders keep selling in Redis meanwhile): a chunk with a
// hot disc of a million orders takes seconds, the others milliseconds.
var totalsChunk = 200

// backfillTotals fills discs.events_total, discs.ordered_total and disc_buyers for the discs that existed before
// the triggers of migration 4, a chunk per transaction, while the shop keeps running; then it makes the
// totals NOT NULL. It is online: each chunk locks its discs' rows (FOR UPDATE), which every writer of an order,
// a cancel or a stock event of those discs also updates (the triggers add to discs' totals), and every other
// disc goes on. With the rows locked no transaction can be half-way between writing a row of these discs and
// adding it to a total, so a sum read now counts every committed row and the rows still to commit add
// themselves afterwards. A deadlock with a writer that locks discs in another order, or a lock wait over a
// second, retries the chunk. A chunk may run past the pools' 10 s statement timeout (a hot disc's million
// orders), so it lifts it for its own transaction.
func backfillTotals(ctx context.Context, db *sql.DB) error {
	for {
		n, err := backfillChunk(ctx, db)
		if retryable(err) {
			// Let the writers the chunk held up go first, then try the chunk again.
			select {
			case <-ctx.Done():
				return fmt.Errorf("totals backfill: %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("totals backfill: %w", err)
		}
		if n == 0 {
			break
		}
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE discs ALTER COLUMN events_total SET NOT NULL, ALTER COLUMN ordered_total SET NOT NULL`)
	if err != nil {
		return fmt.Errorf("totals backfill: not null: %w", err)
	}
	return nil
}

// backfillChunk fills the totals of the next chunk of discs that have none and returns how many it filled.
func backfillChunk(ctx context.Context, db *sql.DB) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a committed transaction's rollback does nothing
	for _, stmt := range []string{
		`SET LOCAL lock_timeout = '1s'`,
		`SET LOCAL statement_timeout = '10min'`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return 0, err
		}
	}
	// Lock first, sum after: a statement reads the rows committed when it starts, so the sums must start once
	// the locks are held, or a writer that committed while this waited for its lock would go uncounted.
	rows, err := tx.QueryContext(ctx, `SELECT id FROM discs WHERE events_total IS NULL OR ordered_total IS NULL
		ORDER BY id LIMIT $1 FOR UPDATE`, totalsChunk)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, `
UPDATE discs d SET
    events_total  = COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0),
    ordered_total = COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0)
WHERE d.id = ANY($1)`, ids); err != nil {
		return 0, err
	}
	// The triggers may have counted some of these discs' buyers from zero since migration 4; the recount
	// replaces those rows.
	if _, err := tx.ExecContext(ctx, `DELETE FROM disc_buyers WHERE disc_id = ANY($1)`, ids); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO disc_buyers (disc_id, customer_id, units)
SELECT disc_id, customer_id, sum(quantity) FROM orders
WHERE disc_id = ANY($1) AND status = 'confirmed' GROUP BY 1, 2`, ids); err != nil {
		return 0, err
	}
	return len(ids), tx.Commit()
}

// retryable reports whether a backfill chunk lost a deadlock or waited too long for its lock: the chunk
// changed nothing and runs again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "55P03")
}
