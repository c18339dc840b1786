package pg

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/learecordshop/recordshop/biz/model"
)

// LedgerDisc is what Postgres says of one disc for reconcile, read in one snapshot.
type LedgerDisc struct {
	ID          int64
	Archived    bool
	Stock       int64
	Version     int64
	Limit       int   // per-customer limit; 0: Redis keeps no units per customer for the disc
	EventsSum   int64 // sum of every stock_events.delta (its running total, discs.events_total, unless Full)
	OrdersSum   int64 // sum of every order's quantity, cancelled included (discs.ordered_total unless Full)
	EventsAfter int64 // sum of deltas of versions Redis had not applied at the snapshot
	// Per customer: confirmed units; units of orders reserved after the snapshot (any status); units coming
	// back through cancel events Redis had not applied at the snapshot.
	Confirmed, After, CancelsAfter map[int64]int64
	AfterTotal                     int64
	OldUnapplied                   int  // unapplied stock events older than the stuck threshold
	NeverApplied                   bool // no stock event of the disc has reached Redis yet (it was just created)
	// TotalsOff says, in a Full read, how the running totals differ from the recount of the rows; empty when
	// they agree (and always in a read of the totals).
	TotalsOff []string
}

// LedgerQuery names the discs of one partition snapshot to read.
type LedgerQuery struct {
	Partition    int
	DiscIDs      []int64
	RedisVersion map[int64]int64 // version Redis had applied per disc (0 when absent)
	LastID       string          // the stream position of the snapshot
	PendingIDs   []uuid.UUID     // orders pending in the snapshot
	StuckAfter   time.Duration
	// Full recounts the sums from every order and stock event of the discs, and checks the running totals
	// against them; otherwise the running totals are read, whose cost does not grow with history.
	Full bool
	// Some names, for discs of which Redis holds only some buyers, the customers whose units to read; the
	// units of every buyer are read for the other discs with a limit.
	Some map[int64][]int64
}

// Ledger reads, in one REPEATABLE READ transaction (one consistent snapshot), everything reconcile compares
// with a Redis snapshot. It also returns which of the snapshot's pending orders Postgres has by now.
func (r *Discs) Ledger(ctx context.Context, q LedgerQuery) (map[int64]*LedgerDisc, map[uuid.UUID]bool, error) {
	out := make(map[int64]*LedgerDisc, len(q.DiscIDs))
	persisted := map[uuid.UUID]bool{}
	versions := make([]int64, len(q.DiscIDs))
	for i, id := range q.DiscIDs {
		versions[i] = q.RedisVersion[id]
	}
	ms, seq := splitStreamID(q.LastID)
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		sums := ledgerTotals
		if q.Full {
			sums = ledgerRecount
		}
		rows, err := tx.Query(ctx, sums, q.DiscIDs, versions, q.StuckAfter.Seconds())
		if err != nil {
			return err
		}
		for rows.Next() {
			l := &LedgerDisc{Confirmed: map[int64]int64{}, After: map[int64]int64{}, CancelsAfter: map[int64]int64{}}
			var eventsTotal, orderedTotal int64
			if err := rows.Scan(&l.ID, &l.Archived, &l.Stock, &l.Version, &l.Limit, &l.EventsSum, &l.OrdersSum, &l.EventsAfter, &l.OldUnapplied,
				&l.NeverApplied, &eventsTotal, &orderedTotal); err != nil {
				return err
			}
			if eventsTotal != l.EventsSum {
				l.TotalsOff = append(l.TotalsOff, fmt.Sprintf("events_total %d, stock events sum to %d", eventsTotal, l.EventsSum))
			}
			if orderedTotal != l.OrdersSum {
				l.TotalsOff = append(l.TotalsOff, fmt.Sprintf("ordered_total %d, orders sum to %d", orderedTotal, l.OrdersSum))
			}
			out[l.ID] = l
		}
		if err := rows.Err(); err != nil {
			return err
		}
		perCustomer := func(sql string, args []any, pick func(*LedgerDisc) map[int64]int64) error {
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			var disc, customer, units int64
			_, err = pgx.ForEachRow(rows, []any{&disc, &customer, &units}, func() error {
				if l := out[disc]; l != nil {
					pick(l)[customer] += units
				}
				return nil
			})
			return err
		}
		// Units per customer matter where Redis counts them, on discs with a limit, and only for the buyers Redis
		// holds where it holds some; a full check reads them all.
		buyersOf := make([]int64, 0, len(out))
		var someDiscs, someCustomers []int64
		for id, l := range out {
			customers, some := q.Some[id]
			switch {
			case q.Full || (l.Limit > 0 && !some):
				buyersOf = append(buyersOf, id)
			case l.Limit > 0:
				for _, c := range customers {
					someDiscs, someCustomers = append(someDiscs, id), append(someCustomers, c)
				}
			}
		}
		confirmed := func(l *LedgerDisc) map[int64]int64 { return l.Confirmed }
		if err := perCustomer(`SELECT disc_id, customer_id, units FROM disc_buyers WHERE disc_id = ANY($1) AND units <> 0`,
			[]any{buyersOf}, confirmed); err != nil {
			return err
		}
		if len(someDiscs) > 0 {
			if err := perCustomer(`SELECT b.disc_id, b.customer_id, b.units FROM disc_buyers b
				JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::bigint[])) AS s(disc, customer)
				  ON b.disc_id = s.disc AND b.customer_id = s.customer`, []any{someDiscs, someCustomers}, confirmed); err != nil {
				return err
			}
		}
		if q.Full {
			recount := map[int64]map[int64]int64{}
			if err := perCustomer(`SELECT disc_id, customer_id, sum(quantity) FROM orders
				WHERE disc_id = ANY($1) AND status = 'confirmed' GROUP BY 1, 2`, []any{q.DiscIDs},
				func(l *LedgerDisc) map[int64]int64 {
					if recount[l.ID] == nil {
						recount[l.ID] = map[int64]int64{}
					}
					return recount[l.ID]
				}); err != nil {
				return err
			}
			for id, l := range out {
				if off := buyersOff(l.Confirmed, recount[id]); off != "" {
					l.TotalsOff = append(l.TotalsOff, off)
				}
				l.Confirmed = recount[id]
				if l.Confirmed == nil {
					l.Confirmed = map[int64]int64{}
				}
			}
		}
		// The orders after the snapshot are the partition's newest few: read them by stream position first (a
		// MATERIALIZED CTE, so that no plan, generic or custom, starts from the discs' whole histories), then
		// keep the chunk's discs.
		if err := perCustomer(`WITH recent AS MATERIALIZED (
			    SELECT disc_id, customer_id, quantity FROM orders
			    WHERE stream_partition = $2
			      AND (split_part(stream_id, '-', 1)::bigint, split_part(stream_id, '-', 2)::bigint) > ($3::bigint, $4::bigint))
			SELECT disc_id, customer_id, sum(quantity) FROM recent WHERE disc_id = ANY($1) GROUP BY 1, 2`,
			[]any{q.DiscIDs, q.Partition, ms, seq},
			func(l *LedgerDisc) map[int64]int64 { return l.After }); err != nil {
			return err
		}
		if err := perCustomer(`SELECT e.disc_id, o.customer_id, sum(e.delta)
			FROM unnest($1::bigint[], $2::bigint[]) AS r(id, ver)
			JOIN stock_events e ON e.disc_id = r.id AND e.version > r.ver AND e.reason = 'cancel'
			JOIN orders o ON o.id = e.order_id GROUP BY 1, 2`, []any{q.DiscIDs, versions},
			func(l *LedgerDisc) map[int64]int64 { return l.CancelsAfter }); err != nil {
			return err
		}
		for _, l := range out {
			for _, n := range l.After {
				l.AfterTotal += n
			}
		}
		if len(q.PendingIDs) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT id FROM orders WHERE id = ANY($1)`, q.PendingIDs)
		if err != nil {
			return err
		}
		var id uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&id}, func() error { persisted[id] = true; return nil })
		return err
	})
	return out, persisted, translate("discs.ledger", err)
}

// ledgerRest is what the two ledger reads share after their sums: what Redis has not applied yet (events
// after the version it had), stuck events, whether any event reached Redis, and the running totals, over the
// discs of an unnest of ids and the versions Redis had applied.
//
// Each subquery runs only where its answer can be other than the obvious one, so that a disc at rest costs
// its row and one probe of the (small) index of unapplied events: events after Redis' version exist only if
// Postgres' version is ahead, and whether any event ever reached Redis matters only for a disc Redis lacks.
const ledgerRest = `
       CASE WHEN d.stock_version > r.ver
            THEN COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id AND e.version > r.ver), 0)
            ELSE 0 END,
       (SELECT count(*) FROM stock_events e WHERE e.disc_id = d.id AND e.applied_at IS NULL
            AND e.created_at < now() - make_interval(secs => $3::float8)),
       CASE WHEN r.ver = 0
            THEN NOT EXISTS (SELECT 1 FROM stock_events e WHERE e.disc_id = d.id AND e.applied_at IS NOT NULL)
            ELSE false END,
       d.events_total, d.ordered_total
FROM unnest($1::bigint[], $2::bigint[]) AS r(id, ver) JOIN discs d ON d.id = r.id`

// ledgerTotals reads the sums from the running totals: what a check reads, at a cost that does not grow with
// history (the totals then appear twice, for the shape ledgerRecount shares).
const ledgerTotals = `
SELECT d.id, d.archived, d.stock, d.stock_version, d.per_customer_limit, d.events_total, d.ordered_total,` + ledgerRest

// ledgerRecount recounts the sums from every stock event and order of the discs (reconcile --full), with the
// running totals beside them to be checked.
const ledgerRecount = `
SELECT d.id, d.archived, d.stock, d.stock_version, d.per_customer_limit,
       COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0),
       COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0),` + ledgerRest

// buyersOff says how the running units per customer (disc_buyers) differ from a recount; "" when they agree.
func buyersOff(totals, recount map[int64]int64) string {
	off := 0
	for c, n := range recount {
		if totals[c] != n {
			off++
		}
	}
	for c, n := range totals {
		if _, ok := recount[c]; !ok && n != 0 {
			off++
		}
	}
	if off == 0 {
		return ""
	}
	return fmt.Sprintf("disc_buyers differs from the orders for %d customers", off)
}

// splitStreamID splits a stream id "ms-seq".
func splitStreamID(id string) (int64, int64) {
	a, b, _ := strings.Cut(id, "-")
	ms, _ := strconv.ParseInt(a, 10, 64)
	seq, _ := strconv.ParseInt(b, 10, 64)
	return ms, seq
}

// BuyerUnits returns a customer's units of a disc (confirmed, from the running totals) and the disc's stock
// version, in one statement and so one snapshot: reserve.lua takes the units only at that version.
func (r *Discs) BuyerUnits(ctx context.Context, discID, customerID int64) (model.BuyerUnits, error) {
	var b model.BuyerUnits
	err := r.pool.QueryRow(ctx, `SELECT COALESCE((SELECT units FROM disc_buyers WHERE disc_id = $1 AND customer_id = $2), 0), stock_version
		FROM discs WHERE id = $1`, discID, customerID).Scan(&b.Units, &b.Version)
	return b, translate("discs.buyer_units", err)
}

// AllIDs returns the ids of every disc, archived included, in id order.
func (r *Discs) AllIDs(ctx context.Context) ([]int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT id FROM discs ORDER BY id`)
	if err != nil {
		return nil, translate("discs.all_ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, translate("discs.all_ids", err)
}

// DiscLoad is what loading one disc into Redis whole needs of Postgres: the disc's fields Redis holds and its
// ledger (stock, version, confirmed units per customer), read with the others of a LoadStates call in one
// snapshot.
type DiscLoad struct {
	Disc   model.Disc // ID, PriceCents, PerCustomerLimit, SaleStartsAt, Archived and Stock are read
	Ledger model.DiscLedger
}

// LoadStates reads discIDs for loading into Redis, in one REPEATABLE READ snapshot and a few set-based queries
// whatever their number: the discs; the units per customer of those on sale with a limit (the only ones Redis
// counts), all of them up to buyersMax buyers a disc, and beyond that only the buyers of pending orders
// (Ledger.Partial: Redis then asks Postgres for the others as they come back); and which of the pending
// orders (Redis confirmed them) Postgres has by now. Discs that do not exist are left out.
func (r *Discs) LoadStates(ctx context.Context, discIDs []int64, pending []model.Order, buyersMax int) (map[int64]*DiscLoad, map[uuid.UUID]bool, error) {
	out := make(map[int64]*DiscLoad, len(discIDs))
	persisted := map[uuid.UUID]bool{}
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, price_cents, per_customer_limit, sale_starts_at, archived, stock, stock_version
			FROM discs WHERE id = ANY($1)`, discIDs)
		if err != nil {
			return err
		}
		var d model.Disc
		var version int64
		var counted []int64
		if _, err := pgx.ForEachRow(rows, []any{&d.ID, &d.PriceCents, &d.PerCustomerLimit, &d.SaleStartsAt, &d.Archived, &d.Stock, &version}, func() error {
			l := &DiscLoad{Disc: d, Ledger: model.DiscLedger{Stock: d.Stock, Version: version, Bought: map[int64]int64{}}}
			if d.PerCustomerLimit > 0 && !d.Archived {
				counted = append(counted, d.ID)
			} else {
				l.Ledger.Partial = true // no units are read: should a limit come, Redis asks Postgres
			}
			out[d.ID] = l
			return nil
		}); err != nil {
			return err
		}
		var disc, customer, units int64
		collect := func(sql string, args ...any) error {
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			_, err = pgx.ForEachRow(rows, []any{&disc, &customer, &units}, func() error {
				if l := out[disc]; l != nil {
					l.Ledger.Bought[customer] = units
				}
				return nil
			})
			return err
		}
		if len(counted) > 0 {
			// One more row than the cap tells a disc with more buyers than Redis is to hold from the start.
			if err := collect(`SELECT c.id, b.customer_id, b.units FROM unnest($1::bigint[]) AS c(id)
				CROSS JOIN LATERAL (SELECT customer_id, units FROM disc_buyers
				                    WHERE disc_id = c.id AND units <> 0 LIMIT $2) b`, counted, buyersMax+1); err != nil {
				return err
			}
		}
		var pDiscs, pCustomers []int64
		for _, id := range counted {
			if l := out[id]; len(l.Ledger.Bought) > buyersMax {
				l.Ledger.Partial, l.Ledger.Bought = true, map[int64]int64{}
			}
		}
		for _, o := range pending {
			if l := out[o.DiscID]; l != nil && l.Ledger.Partial {
				pDiscs, pCustomers = append(pDiscs, o.DiscID), append(pCustomers, o.CustomerID)
			}
		}
		if len(pDiscs) > 0 {
			if err := collect(`SELECT b.disc_id, b.customer_id, b.units FROM disc_buyers b
				JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::bigint[])) AS p(disc, customer)
				  ON b.disc_id = p.disc AND b.customer_id = p.customer`, pDiscs, pCustomers); err != nil {
				return err
			}
		}
		if len(pending) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(pending))
		for i, o := range pending {
			ids[i] = o.ID
		}
		rows, err = tx.Query(ctx, `SELECT id FROM orders WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		var id uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&id}, func() error { persisted[id] = true; return nil })
		return err
	})
	for _, l := range out {
		l.Ledger.Persisted = persisted
	}
	return out, persisted, translate("discs.load_states", err)
}
