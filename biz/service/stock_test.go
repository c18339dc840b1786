package service_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// fixture is the Redis-mode services over a database and key prefix of their own.
type fixture struct {
	pool    *pgxpool.Pool
	rdb     goredis.UniversalClient
	gate    *rsredis.Gate
	discs   *pg.Discs
	relay   *service.Relay
	catalog *service.Catalog
	orders  *service.Orders
	people  *service.Customers
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := testenv.PG(t)
	rdb, prefix := testenv.Redis(t)
	f := &fixture{pool: pool, rdb: rdb, discs: pg.NewDiscs(pool)}
	f.gate = rsredis.NewGate(rdb, rsredis.Keys{Namespace: prefix, Partitions: 4})
	f.relay = service.NewRelay(pg.NewStockEvents(pool), f.discs, f.gate, zap.NewNop())
	stock := service.NewRedisStock(f.relay, f.gate)
	f.catalog = service.NewCatalog(f.discs, stock, zap.NewNop())
	f.people = service.NewCustomers(pg.NewCustomers(pool), f.gate)
	cfg := service.OrderConfig{IdempotencyTTL: time.Hour, CancelWait: 50 * time.Millisecond}
	f.orders = service.NewOrders(pg.NewOrders(pool), service.NewRedisReserver(f.gate, pg.NewCustomers(pool), f.discs, cfg), stock, cfg, time.Now)
	return f
}

func (f *fixture) disc(t *testing.T, stock int64, limit ...int) model.Disc {
	t.Helper()
	price := int64(1000)
	d, err := f.catalog.Create(context.Background(), model.DiscCreate{Name: "Disc", Artist: "Artist", ReleaseYear: 2020,
		Style: "Rock", PriceCents: &price, Stock: stock, StartsAt: time.Now().Add(-time.Minute), PerCustomerLimit: append(limit, 0)[0]})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) customer(t *testing.T, n int64) model.Customer {
	t.Helper()
	c, err := pg.NewCustomers(f.pool).Create(context.Background(), model.CustomerCreate{Document: model.CPFFromSeed(300_000_000 + n),
		Name: "Buyer", Email: uuid.NewString()[:8] + "@example.com", BirthDate: "1990-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) avail(t *testing.T, discID int64) int64 {
	t.Helper()
	n, err := f.rdb.HGet(context.Background(), f.gate.Keys().Disc(discID), "avail").Int64()
	if err != nil {
		t.Fatalf("avail of disc %d: %v", discID, err)
	}
	return n
}

func (f *fixture) unapplied(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM stock_events WHERE applied_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCatalogChangesReachRedis(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := f.disc(t, 10)
	if got := f.avail(t, d.ID); got != 10 {
		t.Fatalf("avail after create = %d; want 10", got)
	}
	if _, err := f.catalog.Restock(ctx, d.ID, 5); err != nil {
		t.Fatal(err)
	}
	stock, limit := int64(12), 3
	if _, err := f.catalog.Update(ctx, d.ID, model.DiscPatch{Stock: &stock, PerCustomerLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	if got := f.avail(t, d.ID); got != 12 {
		t.Fatalf("avail after +5 and a set to 12 = %d; want 12", got)
	}
	if got, _ := f.rdb.HGet(ctx, f.gate.Keys().Disc(d.ID), "limit").Int(); got != 3 {
		t.Fatalf("limit in redis = %d; want 3", got)
	}
	if n := f.unapplied(t); n != 0 {
		t.Fatalf("%d stock events left unapplied", n)
	}
}

func TestRelayAppliesWhatACrashLeftOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := f.disc(t, 10)
	// A restock that committed in Postgres while the process died before telling Redis.
	if _, err := f.discs.Restock(ctx, d.ID, 7, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.discs.Restock(ctx, d.ID, 3, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.avail(t, d.ID); got != 10 {
		t.Fatalf("avail before the relay ran = %d; want 10", got)
	}
	for i := range 2 { // the second pass must change nothing
		if _, err := f.relay.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.avail(t, d.ID); got != 20 {
			t.Fatalf("pass %d: avail = %d; want 20", i+1, got)
		}
	}
	if n := f.unapplied(t); n != 0 {
		t.Fatalf("%d stock events left unapplied", n)
	}
	// An event applied twice (a relay that died between apply and mark) changes nothing the second time.
	if _, err := f.pool.Exec(ctx, `UPDATE stock_events SET applied_at = NULL WHERE disc_id = $1`, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.relay.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.avail(t, d.ID); got != 20 {
		t.Fatalf("re-applied events moved avail to %d; want 20", got)
	}
}

func TestLoadNeverOverwritesLiveStock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := f.disc(t, 10, 5) // a limit, so that Redis counts the customer's units too
	c := f.customer(t, 1)
	if _, _, err := f.orders.Place(ctx, model.OrderCreate{CustomerID: c.ID, DiscID: d.ID, Quantity: 4}, ""); err != nil {
		t.Fatal(err)
	}
	// Postgres still says 10 (the writer is not running); a start-up load must not put 10 back.
	if err := f.relay.LoadAll(ctx, []int64{d.ID}); err != nil {
		t.Fatal(err)
	}
	if got := f.avail(t, d.ID); got != 6 {
		t.Fatalf("avail after LoadAll = %d; want the live 6", got)
	}
	// Redis lost the disc: the load takes Postgres' stock less the orders Redis has not flushed yet.
	if err := f.rdb.Del(ctx, f.gate.Keys().Disc(d.ID), f.gate.Keys().Bought(d.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.relay.LoadAll(ctx, []int64{d.ID}); err != nil {
		t.Fatal(err)
	}
	if got := f.avail(t, d.ID); got != 6 {
		t.Fatalf("avail after a reload = %d; want 10 - 4 pending = 6", got)
	}
	if got, _ := f.rdb.HGet(ctx, f.gate.Keys().Bought(d.ID), strconv.FormatInt(c.ID, 10)).Int(); got != 4 {
		t.Fatalf("customer's units after a reload = %d; want 4", got)
	}
}

func TestNegativeRestockIsCheckedAgainstRedis(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := f.disc(t, 10)
	c := f.customer(t, 1)
	if _, _, err := f.orders.Place(ctx, model.OrderCreate{CustomerID: c.ID, DiscID: d.ID, Quantity: 8}, ""); err != nil {
		t.Fatal(err)
	}
	// Postgres has 10 (the 8 are not flushed), Redis 2: taking 5 away would sell units twice.
	_, err := f.catalog.Restock(ctx, d.ID, -5)
	var short *model.InsufficientStockError
	if !errors.As(err, &short) || short.Stock != 2 {
		t.Fatalf("Restock(-5) err = %v; want InsufficientStockError{2}", err)
	}
	got, err := f.discs.Get(ctx, d.ID)
	if err != nil || got.Stock != 10 || got.StockVersion != 1 {
		t.Fatalf("the refused restock changed Postgres: %+v, %v", got, err)
	}
	if _, err := f.catalog.Restock(ctx, d.ID, -2); err != nil {
		t.Fatalf("Restock(-2) = %v; want it to fit", err)
	}
	if a := f.avail(t, d.ID); a != 0 {
		t.Fatalf("avail = %d; want 0", a)
	}
	if n := f.unapplied(t); n != 0 {
		t.Fatalf("%d stock events unapplied after a guarded change", n)
	}
}

func TestDeactivationReachesEveryPartition(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.customer(t, 1)
	if _, err := f.people.SetActive(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 4; p++ {
		if ok, _ := f.rdb.SIsMember(ctx, f.gate.Keys().Inactive(p), c.ID).Result(); !ok {
			t.Fatalf("partition %d does not know customer %d is inactive", p, c.ID)
		}
	}
	if _, err := f.people.SetActive(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 4; p++ {
		if ok, _ := f.rdb.SIsMember(ctx, f.gate.Keys().Inactive(p), c.ID).Result(); ok {
			t.Fatalf("partition %d still holds reactivated customer %d", p, c.ID)
		}
	}
}

func TestCancelOfAnUnflushedOrderAsksToRetry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	d := f.disc(t, 10)
	c := f.customer(t, 1)
	o, _, err := f.orders.Place(ctx, model.OrderCreate{CustomerID: c.ID, DiscID: d.ID, Quantity: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.orders.Get(ctx, o.ID)
	if err != nil || got.ID != o.ID || got.Persisted {
		t.Fatalf("Get of the unflushed order = %+v, %v; want it, not persisted", got, err)
	}
	_, err = f.orders.Cancel(ctx, o.ID)
	var wait *model.NotPersistedError
	if !errors.As(err, &wait) || wait.RetryAfter <= 0 {
		t.Fatalf("Cancel(unflushed) err = %v; want NotPersistedError with a retry hint", err)
	}
	if _, err := f.orders.Cancel(ctx, uuid.Must(uuid.NewV7())); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Cancel(unknown) err = %v; want ErrNotFound", err)
	}
}

// TestSoldOutMarkHoldsNoLongerThanItsBound: once Redis answers a disc sold out, this process refuses its orders
// without asking Redis, for SoldOutHold at most. Units that come back through another process are sold after
// that bound, never refused past it; units that come back through this process clear the mark at once; and a
// repeat of an answered Idempotency-Key is still replayed.
func TestSoldOutMarkHoldsNoLongerThanItsBound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const hold = time.Hour // the clock below moves, not the test
	clock := time.Now()
	cfg := service.OrderConfig{IdempotencyTTL: time.Hour, SoldOutHold: hold}
	reserver := service.NewRedisReserver(f.gate, pg.NewCustomers(f.pool), f.discs, cfg)
	reserver.UseClock(func() time.Time { return clock })
	f.relay.OnUnitsBack(reserver.UnitsBack) // this process' relay
	orders := service.NewOrders(pg.NewOrders(f.pool), reserver, service.NewRedisStock(f.relay, f.gate), cfg, time.Now)
	// Another process: its own relay, which this process' marks do not hear.
	otherRelay := service.NewRelay(pg.NewStockEvents(f.pool), f.discs, f.gate, zap.NewNop())
	otherCatalog := service.NewCatalog(f.discs, service.NewRedisStock(otherRelay, f.gate), zap.NewNop())

	d := f.disc(t, 1)
	c := f.customer(t, 1)
	buy := func(key string) (model.Order, bool, error) {
		return orders.Place(ctx, model.OrderCreate{CustomerID: c.ID, DiscID: d.ID, Quantity: 1}, key)
	}
	first, _, err := buy("first")
	if err != nil {
		t.Fatal(err)
	}
	var sold *model.SoldOutError
	if _, _, err := buy(""); !errors.As(err, &sold) {
		t.Fatalf("order of a sold-out disc: %v; want sold out", err)
	}
	// Units come back through the other process: within the hold this one still refuses, without Redis.
	if _, err := otherCatalog.Restock(ctx, d.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := buy(""); !errors.As(err, &sold) {
		t.Fatalf("order within the hold after another process' restock: %v; want sold out from the mark", err)
	}
	if got := f.avail(t, d.ID); got != 1 {
		t.Fatalf("redis avail %d; want the restocked unit untouched", got)
	}
	// A repeat of the first request is replayed, mark or not.
	if o, replayed, err := buy("first"); err != nil || !replayed || o.ID != first.ID {
		t.Fatalf("replay while marked: %v %v %v; want the first order replayed", o.ID, replayed, err)
	}
	// Past the bound the unit sells.
	clock = clock.Add(hold)
	if _, _, err := buy(""); err != nil {
		t.Fatalf("order after the hold: %v; want it sold", err)
	}
	// Sold out again, marked again; a restock through this process clears the mark at once.
	if _, _, err := buy(""); !errors.As(err, &sold) {
		t.Fatalf("order of the sold-out disc: %v; want sold out", err)
	}
	if _, err := f.catalog.Restock(ctx, d.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := buy(""); err != nil {
		t.Fatalf("order after this process' restock: %v; want it sold at once", err)
	}
}
