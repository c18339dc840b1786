package pg

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
)

// StockEvents is the repository of the stock_events outbox: changes of stock made in Postgres that Redis
// has not applied yet.
type StockEvents struct {
	pool *pgxpool.Pool
}

// NewStockEvents returns the stock events repository on pool.
func NewStockEvents(pool *pgxpool.Pool) *StockEvents { return &StockEvents{pool: pool} }

const selectUnapplied = `
SELECT e.disc_id, e.version, e.delta, e.reason, COALESCE(o.customer_id, 0), d.*
FROM stock_events e
JOIN (SELECT ` + discColumns + ` FROM discs) d ON d.id = e.disc_id
LEFT JOIN orders o ON o.id = e.order_id
WHERE e.applied_at IS NULL AND ($1 = 0 OR e.disc_id = $1)
ORDER BY e.disc_id, e.version
LIMIT $2`

// Unapplied returns up to limit unapplied events in (disc, version) order; discID 0 means every disc.
func (r *StockEvents) Unapplied(ctx context.Context, discID int64, limit int) ([]model.StockEvent, error) {
	rows, err := r.pool.Query(ctx, selectUnapplied, discID, limit)
	if err != nil {
		return nil, translate("stock_events.unapplied", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.StockEvent, error) {
		var e model.StockEvent
		var err error
		e.Disc, err = scanDiscAfter(row, []any{&e.DiscID, &e.Version, &e.Delta, &e.Reason, &e.CustomerID})
		return e, err
	})
	return events, translate("stock_events.unapplied", err)
}

// MarkApplied records that Redis has every event of the disc up to version.
func (r *StockEvents) MarkApplied(ctx context.Context, discID, version int64) error {
	_, err := r.pool.Exec(ctx, `UPDATE stock_events SET applied_at = now()
		WHERE disc_id = $1 AND version <= $2 AND applied_at IS NULL`, discID, version)
	return translate("stock_events.mark_applied", err)
}

// MarkAppliedAll records, in one statement, that Redis has every event of each disc up to its version.
func (r *StockEvents) MarkAppliedAll(ctx context.Context, versions map[int64]int64) error {
	ids, vers := make([]int64, 0, len(versions)), make([]int64, 0, len(versions))
	for id, v := range versions {
		ids, vers = append(ids, id), append(vers, v)
	}
	_, err := r.pool.Exec(ctx, `UPDATE stock_events e SET applied_at = now()
		FROM unnest($1::bigint[], $2::bigint[]) AS m(disc_id, version)
		WHERE e.disc_id = m.disc_id AND e.version <= m.version AND e.applied_at IS NULL`, ids, vers)
	return translate("stock_events.mark_applied_all", err)
}
