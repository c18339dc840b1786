package pg

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
	// Partitions is the deployment's partition count (disc id mod Partitions is a disc's partition): a read of
	// many discs reads the table's rows of their partitions.
	Partitions int
}

// fullTimeout bounds each statement of a full check (reconcile --full), which reads history by design.
const fullTimeout = 10 * time.Minute

// wholeTable is how many discs make Ledger read the discs table whole (the rows of their partitions) rather
// than look each one up: past it one sequential scan costs less than an index probe per disc.
const wholeTable = 20_000

// Ledger reads, in one REPEATABLE READ transaction (one consistent snapshot), everything reconcile compares
// with one or more Redis snapshots, qs (each one partition's discs at one stream position; a disc in one of
// them only). It also returns which of the snapshots' pending orders Postgres has by now. Full and StuckAfter
// are taken from the first query.
//
// Its cost is what the check needs, not what history holds: each disc's row (the whole table read at once for
// the whole shop), and beyond it only what can differ from the row. Events after Redis' version are read only
// for discs whose Postgres version is ahead, "ever applied" only for discs Redis lacks, stuck events from the
// small index of unapplied ones, units per customer only where Redis counts them, and of the orders only those
// after each snapshot's stream position.
func (r *Discs) Ledger(ctx context.Context, qs ...LedgerQuery) (map[int64]*LedgerDisc, map[uuid.UUID]bool, error) {
	out := map[int64]*LedgerDisc{}
	persisted := map[uuid.UUID]bool{}
	if len(qs) == 0 {
		return out, persisted, nil
	}
	full, stuckAfter := qs[0].Full, qs[0].StuckAfter
	var pending []uuid.UUID
	var discIDs []int64
	redisVer := map[int64]int64{}
	chunk := map[int64]int{} // disc -> index of its query in qs
	some := map[int64][]int64{}
	for i, q := range qs {
		for _, id := range q.DiscIDs {
			discIDs = append(discIDs, id)
			redisVer[id] = q.RedisVersion[id]
			chunk[id] = i
		}
		pending = append(pending, q.PendingIDs...)
		for id, c := range q.Some {
			some[id] = c
		}
	}
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if full {
			// A full check reads every order of its discs, a million for a disc that sold that many: more
			// than the shop's statement timeout allows one statement, which guards the order path, not this.
			if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', $1, true)`, fmt.Sprint(fullTimeout.Milliseconds())); err != nil {
				return err
			}
		} else {
			// The orders after a snapshot are few, but the planner cannot tell from a row comparison on
			// stream positions: it plans a parallel scan of hundreds of thousands and JIT-compiles it, which
			// costs tens of milliseconds for nothing. A check reads little; plan it so.
			if _, err := tx.Exec(ctx, `SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)`); err != nil {
				return err
			}
		}
		sums, args := ledgerTotals+` WHERE d.id = ANY($1)`, []any{discIDs}
		switch {
		case full:
			sums = ledgerRecount
		case len(discIDs) >= wholeTable && qs[0].Partitions > 0:
			parts := map[int32]bool{}
			for _, q := range qs {
				parts[int32(q.Partition)] = true
			}
			sums, args = ledgerTotals+` WHERE d.id % $1 = ANY($2)`, []any{qs[0].Partitions, slices.Collect(maps.Keys(parts))}
		}
		rows, err := tx.Query(ctx, sums, args...)
		if err != nil {
			return err
		}
		l := LedgerDisc{}
		var eventsTotal, orderedTotal int64
		if _, err := pgx.ForEachRow(rows, []any{&l.ID, &l.Archived, &l.Stock, &l.Version, &l.Limit, &l.EventsSum, &l.OrdersSum,
			&eventsTotal, &orderedTotal}, func() error {
			if _, asked := chunk[l.ID]; !asked {
				return nil // a whole-table read: not one of these discs
			}
			d := l // its maps are made by the first unit they count: most discs have none
			if eventsTotal != d.EventsSum {
				d.TotalsOff = append(d.TotalsOff, fmt.Sprintf("events_total %d, stock events sum to %d", eventsTotal, d.EventsSum))
			}
			if orderedTotal != d.OrdersSum {
				d.TotalsOff = append(d.TotalsOff, fmt.Sprintf("ordered_total %d, orders sum to %d", orderedTotal, d.OrdersSum))
			}
			out[d.ID] = &d
			return nil
		}); err != nil {
			return err
		}
		// What can differ from the row: events Redis has not applied (where Postgres' version is ahead), and
		// whether any event ever reached Redis (where Redis lacks the disc).
		var aheadIDs, aheadVers, absent []int64
		for id, d := range out {
			if v := redisVer[id]; d.Version > v {
				aheadIDs, aheadVers = append(aheadIDs, id), append(aheadVers, v)
			}
			if redisVer[id] == 0 {
				absent = append(absent, id)
			}
		}
		var disc, n int64
		if len(aheadIDs) > 0 {
			rows, err := tx.Query(ctx, `SELECT e.disc_id, sum(e.delta) FROM unnest($1::bigint[], $2::bigint[]) AS r(id, ver)
				JOIN stock_events e ON e.disc_id = r.id AND e.version > r.ver GROUP BY 1`, aheadIDs, aheadVers)
			if err != nil {
				return err
			}
			if _, err := pgx.ForEachRow(rows, []any{&disc, &n}, func() error { out[disc].EventsAfter = n; return nil }); err != nil {
				return err
			}
		}
		if len(absent) > 0 {
			rows, err := tx.Query(ctx, `SELECT r.id FROM unnest($1::bigint[]) AS r(id)
				WHERE NOT EXISTS (SELECT 1 FROM stock_events e WHERE e.disc_id = r.id AND e.applied_at IS NOT NULL)`, absent)
			if err != nil {
				return err
			}
			if _, err := pgx.ForEachRow(rows, []any{&disc}, func() error { out[disc].NeverApplied = true; return nil }); err != nil {
				return err
			}
		}
		// Stuck events: the shop's unapplied events past the threshold, from the partial index that holds only
		// unapplied ones (normally none), rather than a probe per disc.
		rows, err = tx.Query(ctx, `SELECT disc_id, count(*) FROM stock_events
			WHERE applied_at IS NULL AND created_at < now() - make_interval(secs => $1::float8) GROUP BY disc_id`, stuckAfter.Seconds())
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&disc, &n}, func() error {
			if d := out[disc]; d != nil {
				d.OldUnapplied = int(n)
			}
			return nil
		}); err != nil {
			return err
		}
		perCustomer := func(sql string, args []any, pick func(*LedgerDisc) *map[int64]int64) error {
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			var customer, units int64
			_, err = pgx.ForEachRow(rows, []any{&disc, &customer, &units}, func() error {
				if d := out[disc]; d != nil {
					m := pick(d)
					if *m == nil {
						*m = map[int64]int64{}
					}
					(*m)[customer] += units
				}
				return nil
			})
			return err
		}
		// Units per customer matter where Redis counts them, on discs with a limit, and only for the buyers Redis
		// holds where it holds some; a full check reads them all.
		var buyersOf, someDiscs, someCustomers []int64
		for id, d := range out {
			customers, partial := some[id]
			switch {
			case full || (d.Limit > 0 && !partial):
				buyersOf = append(buyersOf, id)
			case d.Limit > 0:
				for _, c := range customers {
					someDiscs, someCustomers = append(someDiscs, id), append(someCustomers, c)
				}
			}
		}
		confirmed := func(d *LedgerDisc) *map[int64]int64 { return &d.Confirmed }
		if len(buyersOf) > 0 {
			if err := perCustomer(`SELECT disc_id, customer_id, units FROM disc_buyers WHERE disc_id = ANY($1) AND units <> 0`,
				[]any{buyersOf}, confirmed); err != nil {
				return err
			}
		}
		if len(someDiscs) > 0 {
			if err := perCustomer(`SELECT b.disc_id, b.customer_id, b.units FROM disc_buyers b
				JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::bigint[])) AS s(disc, customer)
				  ON b.disc_id = s.disc AND b.customer_id = s.customer`, []any{someDiscs, someCustomers}, confirmed); err != nil {
				return err
			}
		}
		if full {
			recount := map[int64]map[int64]int64{}
			if err := perCustomer(`SELECT disc_id, customer_id, sum(quantity) FROM orders
				WHERE disc_id = ANY($1) AND status = 'confirmed' GROUP BY 1, 2`, []any{discIDs},
				func(d *LedgerDisc) *map[int64]int64 {
					if recount[d.ID] == nil {
						recount[d.ID] = map[int64]int64{}
					}
					m := recount[d.ID] // a map is a reference: the count lands in recount's
					return &m
				}); err != nil {
				return err
			}
			for id, d := range out {
				// disc_buyers counts units where a limit needs them (migration 7): only there must it agree.
				if off := buyersOff(d.Confirmed, recount[id]); off != "" && d.Limit > 0 {
					d.TotalsOff = append(d.TotalsOff, off)
				}
				d.Confirmed = recount[id]
			}
		}
		if err := r.ordersAfter(ctx, tx, qs, chunk, out); err != nil {
			return err
		}
		if len(aheadIDs) > 0 {
			if err := perCustomer(`SELECT e.disc_id, o.customer_id, sum(e.delta)
				FROM unnest($1::bigint[], $2::bigint[]) AS r(id, ver)
				JOIN stock_events e ON e.disc_id = r.id AND e.version > r.ver AND e.reason = 'cancel'
				JOIN orders o ON o.id = e.order_id GROUP BY 1, 2`, []any{aheadIDs, aheadVers},
				func(d *LedgerDisc) *map[int64]int64 { return &d.CancelsAfter }); err != nil {
				return err
			}
		}
		if len(pending) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT id FROM orders WHERE id = ANY($1)`, pending)
		if err != nil {
			return err
		}
		var id uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&id}, func() error { persisted[id] = true; return nil })
		return err
	})
	return out, persisted, translate("discs.ledger", err)
}

// ordersAfter adds to each disc of out the units of its orders that Postgres has and that were reserved after
// its snapshot's stream position (After, AfterTotal). They are a partition's newest few: each partition is read
// once, from the earliest position among its snapshots, by the stream position index (a LATERAL per
// partition that OFFSET 0 keeps from being flattened into a join, which the planner, blind to how few orders
// follow a position, would make a scan of every order; IS NOT NULL lets it use the partial index), and each
// order is kept for its disc only if it is after that disc's own snapshot.
func (r *Discs) ordersAfter(ctx context.Context, tx pgx.Tx, qs []LedgerQuery, chunk map[int64]int, out map[int64]*LedgerDisc) error {
	from := map[int]streamPos{}
	for _, q := range qs {
		pos := parseStreamPos(q.LastID)
		if f, ok := from[q.Partition]; !ok || pos.before(f) {
			from[q.Partition] = pos
		}
	}
	var parts []int32
	var mss, seqs []int64
	for p, pos := range from {
		parts, mss, seqs = append(parts, int32(p)), append(mss, pos.ms), append(seqs, pos.seq)
	}
	rows, err := tx.Query(ctx, `SELECT o.disc_id, o.customer_id, o.quantity, o.ms, o.seq
		FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS f(part, ms, seq)
		CROSS JOIN LATERAL (
		    SELECT disc_id, customer_id, quantity,
		           split_part(stream_id, '-', 1)::bigint AS ms, split_part(stream_id, '-', 2)::bigint AS seq
		    FROM orders
		    WHERE stream_partition IS NOT NULL AND stream_partition = f.part
		      AND (split_part(stream_id, '-', 1)::bigint, split_part(stream_id, '-', 2)::bigint) > (f.ms, f.seq)
		    OFFSET 0) o`,
		parts, mss, seqs)
	if err != nil {
		return err
	}
	var disc, customer, quantity int64
	var pos streamPos
	_, err = pgx.ForEachRow(rows, []any{&disc, &customer, &quantity, &pos.ms, &pos.seq}, func() error {
		d, i := out[disc], chunk[disc]
		if d == nil || !parseStreamPos(qs[i].LastID).before(pos) {
			return nil
		}
		if d.After == nil {
			d.After = map[int64]int64{}
		}
		d.After[customer] += quantity
		d.AfterTotal += quantity
		return nil
	})
	return err
}

// streamPos is a stream id "ms-seq" as numbers, which order positions as the stream does.
type streamPos struct{ ms, seq int64 }

func parseStreamPos(id string) streamPos {
	ms, seq := splitStreamID(id)
	return streamPos{ms, seq}
}

func (a streamPos) before(b streamPos) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

// ledgerTotals reads each disc's row with its running totals, whose cost does not grow with history (the
// totals appear twice, for the shape ledgerRecount shares; the caller adds the filter on d.id, or reads the
// whole table).
const ledgerTotals = `
SELECT d.id, d.archived, d.stock, d.stock_version, d.per_customer_limit, d.events_total, d.ordered_total,
       d.events_total, d.ordered_total
FROM discs d`

// ledgerRecount recounts the sums from every stock event and order of the discs $1 (reconcile --full), with
// the running totals beside them to be checked.
const ledgerRecount = `
SELECT d.id, d.archived, d.stock, d.stock_version, d.per_customer_limit,
       COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0),
       COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0),
       d.events_total, d.ordered_total
FROM unnest($1::bigint[]) AS r(id) JOIN discs d ON d.id = r.id`

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

// AllCounted returns the ids of every disc, archived included, in id order, and which of them have a
// per-customer limit (whose units Redis counts), in one read.
func (r *Discs) AllCounted(ctx context.Context) ([]int64, map[int64]bool, error) {
	rows, err := r.pool.Query(ctx, `SELECT id, per_customer_limit > 0 FROM discs ORDER BY id`)
	if err != nil {
		return nil, nil, translate("discs.all_counted", err)
	}
	var ids []int64
	counted := map[int64]bool{}
	var id int64
	var limited bool
	_, err = pgx.ForEachRow(rows, []any{&id, &limited}, func() error {
		ids = append(ids, id)
		if limited {
			counted[id] = true
		}
		return nil
	})
	return ids, counted, translate("discs.all_counted", err)
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
