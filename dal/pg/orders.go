package pg

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
)

// Orders is the repository of the orders table.
type Orders struct {
	pool *pgxpool.Pool
}

// NewOrders returns the orders repository on pool.
func NewOrders(pool *pgxpool.Pool) *Orders { return &Orders{pool: pool} }

const orderColumns = `id, customer_id, disc_id, quantity, unit_price_cents, status, reserved_at,
    COALESCE(idempotency_key, ''), COALESCE(stream_partition, -1), COALESCE(stream_id, '')`

func scanOrder(row pgx.Row, extra ...any) (model.Order, error) {
	var o model.Order
	err := row.Scan(append([]any{&o.ID, &o.CustomerID, &o.DiscID, &o.Quantity, &o.UnitPriceCents, &o.Status, &o.ReservedAt,
		&o.IdempotencyKey, &o.StreamPartition, &o.StreamID}, extra...)...)
	o.TotalCents = o.UnitPriceCents * int64(o.Quantity)
	o.Persisted = true
	return o, err
}

// Get returns one order, or model.ErrNotFound.
func (r *Orders) Get(ctx context.Context, id uuid.UUID) (model.Order, error) {
	o, err := scanOrder(r.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
	return o, translate("orders.get", err)
}

// List returns one page of orders, newest first.
//
// A page costs a page however long the history of the customer or disc asked about. The inner query takes
// the page's keys (reserved_at, id) in order from the index that matches the filter, orders_customer_recent
// or orders_disc_recent, which hold every column it reads; only the page's rows are then read, by id. Asking
// for the keys alone is what keeps the plan right once pgx's prepared statement gets a generic plan, made
// for an average customer with fewer orders than a page: for them, reading all their orders and sorting
// looks as cheap as reading the index in order, and a heavy buyer or a hot disc would then pay for their
// whole history. An index-only read of a page costs less than any plan that visits the table, for everyone,
// as long as most of the table is all-visible, which autovacuum keeps so for orders (they are rarely updated).
func (r *Orders) List(ctx context.Context, q model.OrderQuery) (model.List[model.Order], error) {
	var w where
	if q.CustomerID != 0 {
		w.add("customer_id = $%d", q.CustomerID)
	}
	if q.DiscID != 0 {
		w.add("disc_id = $%d", q.DiscID)
	}
	if q.Status != "" {
		w.add("status = $%d", q.Status)
	}
	if q.From != nil {
		w.add("reserved_at >= $%d", *q.From)
	}
	if q.To != nil {
		w.add("reserved_at < $%d", *q.To)
	}
	if q.After != nil {
		w.args = append(w.args, q.After.Value, q.After.OrderID)
		w.addRaw("(reserved_at, id) < ($" + strconv.Itoa(len(w.args)-1) + "::timestamptz, $" + strconv.Itoa(len(w.args)) + "::uuid)")
	}
	sql := `SELECT ` + orderColumns + ` FROM (
    SELECT reserved_at AS page_at, id AS page_id FROM orders` + w.sql() + `
    ORDER BY reserved_at DESC, id DESC LIMIT ` + strconv.Itoa(q.Limit+1) + `
) page JOIN orders ON orders.id = page.page_id
ORDER BY page.page_at DESC, page.page_id DESC`
	rows, err := r.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return model.List[model.Order]{}, translate("orders.list", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Order, error) { return scanOrder(row) })
	if err != nil {
		return model.List[model.Order]{}, translate("orders.list", err)
	}
	return page(items, q.Limit, func(o model.Order) model.Cursor {
		return model.Cursor{Sort: "-reserved_at", Value: model.CursorTime(o.ReservedAt), OrderID: o.ID.String()}
	}), nil
}

// The writer's batch: insert the orders that are not there yet and take only their units from the discs, in
// one statement. A redelivered order conflicts on its id, is not returned, and so subtracts nothing.
const insertOrderBatch = `
WITH ins AS (
    INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, reserved_at, idempotency_key,
                        stream_partition, stream_id)
    SELECT id, customer_id, disc_id, quantity, price, reserved_at, NULLIF(idem, ''), part, sid
    FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[], $5::bigint[], $6::timestamptz[], $7::text[],
                $8::int[], $9::text[]) AS b(id, customer_id, disc_id, quantity, price, reserved_at, idem, part, sid)
    ON CONFLICT (id) DO NOTHING
    RETURNING disc_id, quantity
), taken AS (
    SELECT disc_id, sum(quantity) AS units FROM ins GROUP BY disc_id
), upd AS (
    UPDATE discs d SET stock = d.stock - taken.units FROM taken WHERE d.id = taken.disc_id RETURNING d.id
)
SELECT count(*) FROM ins`

// InsertBatch writes a batch of confirmed orders exactly once and returns how many were new.
func (r *Orders) InsertBatch(ctx context.Context, orders []model.Order) (int, error) {
	n := len(orders)
	ids, customers, discs := make([]uuid.UUID, n), make([]int64, n), make([]int64, n)
	qty, price, at := make([]int32, n), make([]int64, n), make([]time.Time, n)
	keys, parts, sids := make([]string, n), make([]int32, n), make([]string, n)
	for i, o := range orders {
		ids[i], customers[i], discs[i] = o.ID, o.CustomerID, o.DiscID
		qty[i], price[i], at[i] = int32(o.Quantity), o.UnitPriceCents, o.ReservedAt
		keys[i], parts[i], sids[i] = o.IdempotencyKey, int32(o.StreamPartition), o.StreamID
	}
	var inserted int
	err := r.pool.QueryRow(ctx, insertOrderBatch, ids, customers, discs, qty, price, at, keys, parts, sids).Scan(&inserted)
	return inserted, translate("orders.insert_batch", err)
}

// Cancel cancels a confirmed order once: in one transaction the order turns cancelled, its units go back to
// the disc with a bumped stock_version, and a "cancel" stock event carries them to Redis. A cancelled order
// is returned as it is, with changed false.
func (r *Orders) Cancel(ctx context.Context, id uuid.UUID) (o model.Order, changed bool, err error) {
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		o, err = scanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 FOR UPDATE`, id))
		if err != nil || o.Status == model.StatusCancelled {
			return err
		}
		const cancel = `
WITH o AS (
    UPDATE orders SET status = 'cancelled', cancelled_at = now() WHERE id = $1 RETURNING disc_id, quantity
), d AS (
    UPDATE discs SET stock = discs.stock + o.quantity, stock_version = stock_version + 1, updated_at = now()
    FROM o WHERE discs.id = o.disc_id
    RETURNING discs.id, discs.stock_version, o.quantity
)
INSERT INTO stock_events (disc_id, version, delta, reason, order_id)
SELECT id, stock_version, quantity, 'cancel', $1 FROM d`
		if _, err := tx.Exec(ctx, cancel, id); err != nil {
			return err
		}
		o.Status, changed = model.StatusCancelled, true
		return nil
	})
	return o, changed, translate("orders.cancel", err)
}

// placeDirect checks every rule of reserve.lua for one order and, when all hold, takes the units and inserts
// the order, in one statement; it reports what it saw, so that the caller answers as reserve.lua would. The
// running totals (disc_buyers) give the customer's units. $1 id, $2 customer, $3 disc, $4 quantity,
// $5 reserved_at, $6 idempotency key ("" = none), $7 the oldest reserved_at a key's answer is kept from.
const placeDirect = `
WITH d AS (
    SELECT price_cents, stock, per_customer_limit, sale_starts_at, archived FROM discs WHERE id = $3
), c AS (
    SELECT active FROM customers WHERE id = $2
), prev AS (
    SELECT id, quantity FROM orders
    WHERE $6 <> '' AND customer_id = $2 AND disc_id = $3 AND idempotency_key = $6 AND reserved_at > $7
    LIMIT 1
), b AS (
    SELECT COALESCE((SELECT units FROM disc_buyers WHERE disc_id = $3 AND customer_id = $2), 0) AS units
), take AS (
    UPDATE discs SET stock = discs.stock - $4
    FROM d, c, b
    WHERE discs.id = $3 AND NOT EXISTS (SELECT 1 FROM prev) AND NOT d.archived AND d.sale_starts_at <= $5
      AND c.active AND (d.per_customer_limit = 0 OR b.units + $4 <= d.per_customer_limit) AND discs.stock >= $4
    RETURNING discs.price_cents
), ins AS (
    INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, reserved_at, idempotency_key)
    SELECT $1, $2, $3, $4, price_cents, $5, NULLIF($6, '') FROM take
    RETURNING unit_price_cents
)
SELECT d.price_cents, d.stock, d.per_customer_limit, d.sale_starts_at, d.archived, c.active, b.units,
       prev.id, prev.quantity, (SELECT unit_price_cents FROM ins)
FROM b LEFT JOIN d ON true LEFT JOIN c ON true LEFT JOIN prev ON true`

// PlaceDirect is the Postgres-only order path (RS_RESERVE_MODE=postgres), the baseline the bench compares
// with, built as strongly as Postgres allows: one round trip, in which the disc's row lock is taken and then
// one statement (placeDirect) checks the same rules as reserve.lua, takes the units and inserts the order. The
// two run in one implicit transaction (a pipelined batch with one Sync), so the lock is held only while the
// server runs them and commits, never across a network round trip. They are two statements because a
// statement reads one snapshot: one that waited for the lock would still check the limit and the
// Idempotency-Key against the orders from before the wait; the statement after the lock reads the orders of
// whoever held it. It returns the order and whether it is a replay.
func (r *Orders) PlaceDirect(ctx context.Context, o model.Order, idemTTL time.Duration) (model.Order, bool, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM discs WHERE id = $1 FOR UPDATE`, o.DiscID)
	var (
		price, stock, units       pgtype.Int8
		limit                     pgtype.Int4
		starts                    pgtype.Timestamptz
		archived, active          pgtype.Bool
		prevID                    pgtype.UUID
		prevQuantity, insertPrice pgtype.Int8
	)
	b.Queue(placeDirect, o.ID, o.CustomerID, o.DiscID, o.Quantity, o.ReservedAt, o.IdempotencyKey, o.ReservedAt.Add(-idemTTL)).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&price, &stock, &limit, &starts, &archived, &active, &units, &prevID, &prevQuantity, &insertPrice)
		})
	if err := r.pool.SendBatch(ctx, b).Close(); err != nil {
		return model.Order{}, false, translate("orders.place_direct", err)
	}
	// The answers in reserve.lua's order.
	switch {
	case !price.Valid:
		return model.Order{}, false, model.ErrUnknownDisc
	case prevID.Valid && prevQuantity.Int64 != int64(o.Quantity):
		return model.Order{}, false, model.ErrKeyReused
	case prevID.Valid:
		prev, err := r.Get(ctx, uuid.UUID(prevID.Bytes))
		return prev, err == nil, err
	case archived.Bool:
		return model.Order{}, false, model.ErrUnknownDisc
	case o.ReservedAt.Before(starts.Time):
		return model.Order{}, false, &model.NotStartedError{StartsAt: starts.Time}
	case !active.Valid:
		return model.Order{}, false, model.ErrUnknownCustomer
	case !active.Bool:
		return model.Order{}, false, model.ErrCustomerInactive
	case limit.Int32 > 0 && units.Int64+int64(o.Quantity) > int64(limit.Int32):
		return model.Order{}, false, &model.LimitError{Limit: int64(limit.Int32), Left: max(int64(limit.Int32)-units.Int64, 0)}
	case !insertPrice.Valid:
		return model.Order{}, false, &model.SoldOutError{Left: stock.Int64}
	}
	o.UnitPriceCents, o.Status = insertPrice.Int64, model.StatusConfirmed
	o.TotalCents, o.Persisted = o.UnitPriceCents*int64(o.Quantity), true
	return o, false, nil
}

// lastStreamIDs walks orders_stream_position down from the highest partition: each step is one probe for the
// last position of the highest partition below the one just found, so it costs a probe per partition,
// not a sort of every order. Positions compare as numbers, ms then seq ("10-1" is after "9-5").
const lastStreamIDs = `
WITH RECURSIVE last AS (
    (SELECT stream_partition, stream_id FROM orders
     WHERE stream_partition IS NOT NULL AND stream_id LIKE '%-%'
     ORDER BY stream_partition DESC, split_part(stream_id, '-', 1)::bigint DESC, split_part(stream_id, '-', 2)::bigint DESC
     LIMIT 1)
    UNION ALL
    SELECT below.stream_partition, below.stream_id FROM last CROSS JOIN LATERAL (
        SELECT stream_partition, stream_id FROM orders
        WHERE stream_partition < last.stream_partition AND stream_id LIKE '%-%'
        ORDER BY stream_partition DESC, split_part(stream_id, '-', 1)::bigint DESC, split_part(stream_id, '-', 2)::bigint DESC
        LIMIT 1) below
)
SELECT stream_partition, stream_id FROM last`

// LastStreamIDs returns, per partition, the highest stream position of the orders Postgres has.
func (r *Orders) LastStreamIDs(ctx context.Context) (map[int]string, error) {
	rows, err := r.pool.Query(ctx, lastStreamIDs)
	if err != nil {
		return nil, translate("orders.last_stream_ids", err)
	}
	out := map[int]string{}
	var p int
	var id string
	_, err = pgx.ForEachRow(rows, []any{&p, &id}, func() error { out[p] = id; return nil })
	return out, translate("orders.last_stream_ids", err)
}

// Existing returns which of the given order ids Postgres has.
func (r *Orders) Existing(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	rows, err := r.pool.Query(ctx, `SELECT id FROM orders WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, translate("orders.existing", err)
	}
	var id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = true; return nil })
	return out, translate("orders.existing", err)
}
