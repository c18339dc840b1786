package pg_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestTotalsBackfillOnline migrates a shop that already has orders, cancels and stock events to the running
// totals while a writer keeps landing orders and cancelling some: the backfill fills every disc's totals, the
// writes made during it are counted exactly once, and afterwards the totals equal the recount of the rows.
func TestTotalsBackfillOnline(t *testing.T) {
	defer pg.SetTotalsChunk(5)()
	ctx := context.Background()
	pool := testenv.PGEmpty(t)
	if _, err := pg.MigrateTo(ctx, pool, 3); err != nil {
		t.Fatal(err)
	}
	const discs, customers = 120, 50
	for _, stmt := range []string{
		`INSERT INTO customers (document, name, email, birth_date)
		 SELECT lpad(i::text, 11, '0'), 'Buyer ' || i, 'b' || i || '@example.com', '1990-01-01' FROM generate_series(1, 50) i`,
		// A limit on every disc, far above what anyone buys: disc_buyers counts units where a limit needs them.
		`INSERT INTO discs (name, artist, release_year, style, price_cents, stock, per_customer_limit)
		 SELECT 'Disc ' || i, 'Artist', 2000, 'Rock', 1000, 100000, 1000000 FROM generate_series(1, 120) i`,
		`INSERT INTO stock_events (disc_id, version, delta, reason, applied_at) SELECT id, 1, 100000, 'create', now() FROM discs`,
		`INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, reserved_at, stream_partition, stream_id)
		 SELECT gen_random_uuid(), 1 + (i % 50), d.id, 1 + (i % 3), 1000, now() - i * interval '1 minute', d.id % 16, (1000 + i) || '-0'
		 FROM discs d, generate_series(1, 20) i`,
		`UPDATE discs d SET stock = stock - (SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id)`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	orders := pg.NewOrders(pool)
	var before []uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT array_agg(id) FROM (SELECT id FROM orders ORDER BY id LIMIT 30) o`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for _, id := range before {
		if _, _, err := orders.Cancel(ctx, id); err != nil {
			t.Fatalf("cancel before the migration: %v", err)
		}
	}

	// A writer lands orders and cancels some, as fast as it can, until the migration is done.
	var (
		wg             sync.WaitGroup
		stop           atomic.Bool
		migrating      atomic.Bool
		during, failed atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			batch := make([]model.Order, 3)
			for j := range batch {
				id := uuid.Must(uuid.NewV7())
				batch[j] = model.Order{ID: id, CustomerID: int64(1 + (i+j)%customers), DiscID: int64(1 + (i*3+j)%discs),
					Quantity: 1 + j, UnitPriceCents: 1000, ReservedAt: time.Now().UTC(), StreamPartition: j, StreamID: "9-9"}
			}
			// A batch that loses a deadlock to the backfill is retried, as the writer retries it.
			if _, err := orders.InsertBatch(ctx, batch); err != nil {
				failed.Add(1)
				continue
			}
			if i%4 == 0 {
				if _, _, err := orders.Cancel(ctx, batch[0].ID); err != nil {
					failed.Add(1)
				}
			}
			if migrating.Load() {
				during.Add(1)
			}
		}
	}()
	migrating.Store(true)
	applied, err := pg.Migrate(ctx, pool)
	migrating.Store(false)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if during.Load() == 0 {
		t.Fatal("no write landed while the migration ran: the test proved nothing about an online backfill")
	}
	t.Logf("migrations %v applied while %d writer batches landed (%d retried)", applied, during.Load(), failed.Load())
	assertTotals(t, pool)
	var nullable int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'discs' AND column_name IN ('events_total', 'ordered_total') AND is_nullable = 'YES'`).Scan(&nullable); err != nil || nullable != 0 {
		t.Fatalf("%d running total columns still nullable after the backfill (err %v)", nullable, err)
	}
}

// assertTotals checks that every disc's running totals and units per customer equal the sums of its rows, and
// that the ledger identity holds on the totals.
func assertTotals(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var n, off int
	if err := pool.QueryRow(ctx, `
SELECT count(*), count(*) FILTER (WHERE d.events_total IS DISTINCT FROM COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
                              OR d.ordered_total IS DISTINCT FROM COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0)
                              OR d.stock <> d.events_total - d.ordered_total)
FROM discs d`).Scan(&n, &off); err != nil || off != 0 {
		t.Fatalf("%d of %d discs have running totals that differ from their rows (err %v)", off, n, err)
	}
	var buyersOff int
	if err := pool.QueryRow(ctx, `
SELECT count(*) FROM (SELECT disc_id, customer_id, units FROM disc_buyers WHERE units <> 0) b
FULL JOIN (SELECT disc_id, customer_id, sum(quantity) AS units FROM orders WHERE status = 'confirmed' GROUP BY 1, 2) o
  USING (disc_id, customer_id)
WHERE b.units IS DISTINCT FROM o.units`).Scan(&buyersOff); err != nil || buyersOff != 0 {
		t.Fatalf("%d (disc, customer) units differ between disc_buyers and the confirmed orders (err %v)", buyersOff, err)
	}
}
