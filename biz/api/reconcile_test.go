package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// reconciler builds what `recordshop reconcile` builds, over the shop's stores.
func (s *shop) reconciler(cfg service.ReconcileConfig) *service.Reconciler {
	return api.NewReconciler(api.Deps{PG: s.Pool, Redis: s.rdb, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Partitions: 4, Namespace: s.prefix}, cfg)
}

func (s *shop) keys() rsredis.Keys { return rsredis.Keys{Namespace: s.prefix, Partitions: 4} }

// TestReconcileUnderFullLaunchLoad runs reconcile 20 times while buyers, restocks and cancels hit the shop
// as fast as this machine takes them; every single check must be clean.
// purchase is one buyer's request, kept to repeat it with its Idempotency-Key.
type purchase struct {
	customer, disc int64
	key            string
}

func TestReconcileUnderFullLaunchLoad(t *testing.T) {
	s := startShop(t, api.ModeRedis)
	discs := []model.Disc{s.createDisc(t, 1_000_000, 0, nil), s.createDisc(t, 1_000_000, 0, nil), s.createDisc(t, 500, 0, nil)}
	buyers := s.createCustomers(t, 20_000)
	r := s.reconciler(service.ReconcileConfig{})
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg                  sync.WaitGroup
		sold, cancelled, rs atomic.Int64
		mu                  sync.Mutex
		confirmed           = map[string]bool{}
		unknown             []purchase // answered 503: the order may or may not have been taken
	)
	next := atomic.Int64{}
	for w := range 48 { // closed-loop buyers: as fast as the shop answers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				c := buyers[int(i)%len(buyers)]
				d := discs[int(i)%len(discs)]
				key := "k" + strconv.FormatInt(i, 10)
				status, a := s.buy(t, c, d.ID, 1, key)
				if status == http.StatusServiceUnavailable {
					mu.Lock()
					unknown = append(unknown, purchase{c, d.ID, key})
					mu.Unlock()
				}
				if status == http.StatusCreated {
					sold.Add(1)
					mu.Lock()
					confirmed[a.ID.String()] = true
					mu.Unlock()
					if w%8 == 0 { // some buyers change their mind once their order is recorded
						for range 100 {
							var o model.Order
							st, _ := s.call(t, "POST", "/v1/orders/"+a.ID.String()+"/cancel", shopStorefront, nil, &o)
							if st == http.StatusOK {
								cancelled.Add(1)
								break
							}
							if st != http.StatusConflict || ctx.Err() != nil {
								break
							}
						}
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the shop restocks while it sells
		defer wg.Done()
		for ctx.Err() == nil {
			for _, d := range discs {
				if st, _ := s.call(t, "POST", fmt.Sprintf("/v1/discs/%d/restock", d.ID), shopAdmin, model.Restock{Delta: 3}, nil); st == http.StatusOK {
					rs.Add(1)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for i := 1; i <= 20; i++ {
		rep, err := r.Check(context.Background(), 0)
		if err != nil {
			t.Errorf("check %d: %v", i, err)
			continue
		}
		if !rep.Clean {
			t.Errorf("check %d under load is not clean: %s: %+v", i, rep.Summary, rep.Problems)
		}
	}
	stop()
	wg.Wait()
	t.Logf("during 20 checks: %d orders confirmed, %d cancelled, %d restocks", sold.Load(), cancelled.Load(), rs.Load())
	if sold.Load() < 500 {
		t.Fatalf("only %d orders during the checks: the load did not run", sold.Load())
	}
	// A 503 may come after the reservation was taken (its answer was lost past the order path's Redis
	// timeout); as the API asks, the buyer repeats it with the same key, which replays the order if there is one.
	for _, p := range unknown {
		testenv.Eventually(t, 10*time.Second, "a 503'd purchase never got a definite answer", func() bool {
			status, a := s.buy(t, p.customer, p.disc, 1, p.key)
			if status == http.StatusOK || status == http.StatusCreated {
				confirmed[a.ID.String()] = true
			}
			return status != http.StatusServiceUnavailable
		})
	}
	t.Logf("%d purchases answered 503 and were repeated with their key", len(unknown))
	s.settle(t, confirmed)
	if rep, err := r.Check(context.Background(), 0); err != nil || !rep.Clean {
		t.Fatalf("check after the launch: %v %+v", err, rep)
	}
	// The running totals the check read are the sums of the rows: the full recount agrees, and so does SQL.
	if rep, err := s.reconciler(service.ReconcileConfig{Full: true}).Check(context.Background(), 0); err != nil || !rep.Clean {
		t.Fatalf("full recount after the launch: %v %+v", err, rep)
	}
	totalsMatchRecount(t, s)
}

// totalsMatchRecount checks in SQL alone that every disc's running totals, and the units per customer of every
// disc with a limit (the only ones disc_buyers counts), equal the sums of its stock events and orders.
func totalsMatchRecount(t *testing.T, s *shop) {
	t.Helper()
	var discs, off int
	err := s.Pool.QueryRow(context.Background(), `
SELECT count(*), count(*) FILTER (WHERE d.events_total <> COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
                              OR d.ordered_total <> COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0))
FROM discs d`).Scan(&discs, &off)
	if err != nil || off != 0 {
		t.Fatalf("%d of %d discs have running totals that differ from their rows (err %v)", off, discs, err)
	}
	var buyersOff int
	err = s.Pool.QueryRow(context.Background(), `
SELECT count(*) FROM (SELECT disc_id, customer_id, units FROM disc_buyers
                      WHERE units <> 0 AND disc_id IN (SELECT id FROM discs WHERE per_customer_limit > 0)) b
FULL JOIN (SELECT disc_id, customer_id, sum(quantity) AS units FROM orders
           WHERE status = 'confirmed' AND disc_id IN (SELECT id FROM discs WHERE per_customer_limit > 0) GROUP BY 1, 2) o
  USING (disc_id, customer_id)
WHERE b.units IS DISTINCT FROM o.units`).Scan(&buyersOff)
	if err != nil || buyersOff != 0 {
		t.Fatalf("%d (disc, customer) units differ between disc_buyers and the confirmed orders (err %v)", buyersOff, err)
	}
	t.Logf("running totals of %d discs equal the recount of their rows", discs)
}

// TestReconcileFindsAndFixesEachDrift injects one kind of drift at a time and checks that reconcile names
// the disc and the amount, and that --fix (or --rebuild) makes the next check clean.
func TestReconcileFindsAndFixesEachDrift(t *testing.T) {
	type found struct {
		Disc      int64
		Verdict   string
		Drift     int64
		Customers []service.CustomerDrift
		Dead      int
		Stuck     int
	}
	tests := []struct {
		name    string
		inject  func(t *testing.T, s *shop, d model.Disc, customer int64)
		want    func(d model.Disc, customer int64) []found
		rebuild bool
		fixes   bool // false: reported and left alone (the Postgres ledger is the truth)
	}{
		{"redis stock tampered up", func(t *testing.T, s *shop, d model.Disc, _ int64) {
			s.rdb.HIncrBy(context.Background(), s.keys().Disc(d.ID), "avail", 7)
		}, func(d model.Disc, _ int64) []found { return []found{{Disc: d.ID, Verdict: "drift", Drift: 7}} }, false, true},
		{"redis stock tampered down", func(t *testing.T, s *shop, d model.Disc, _ int64) {
			s.rdb.HIncrBy(context.Background(), s.keys().Disc(d.ID), "avail", -4)
		}, func(d model.Disc, _ int64) []found { return []found{{Disc: d.ID, Verdict: "drift", Drift: -4}} }, false, true},
		{"redis ahead of postgres (a guarded change that rolled back)", func(t *testing.T, s *shop, d model.Disc, _ int64) {
			ctx := context.Background()
			s.rdb.HIncrBy(ctx, s.keys().Disc(d.ID), "ver", 1)
			s.rdb.HIncrBy(ctx, s.keys().Disc(d.ID), "avail", -3)
		}, func(d model.Disc, _ int64) []found { return []found{{Disc: d.ID, Verdict: "drift", Drift: -3}} }, false, true},
		{"a customer's units tampered", func(t *testing.T, s *shop, d model.Disc, c int64) {
			s.rdb.HIncrBy(context.Background(), s.keys().Bought(d.ID), strconv.FormatInt(c, 10), 2)
		}, func(d model.Disc, c int64) []found {
			return []found{{Disc: d.ID, Verdict: "drift", Customers: []service.CustomerDrift{{CustomerID: c, Redis: 3, Expected: 1}}}}
		}, false, true},
		{"a stock event left unapplied", func(t *testing.T, s *shop, d model.Disc, _ int64) {
			// A restock that committed while the process died before telling Redis.
			if _, err := pg.NewDiscs(s.Pool).Restock(context.Background(), d.ID, 5, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Pool.Exec(context.Background(), `UPDATE stock_events SET created_at = now() - interval '2 minutes' WHERE applied_at IS NULL`); err != nil {
				t.Fatal(err)
			}
		}, func(d model.Disc, _ int64) []found { return []found{{Disc: d.ID, Verdict: "stuck", Stuck: 1}} }, false, true},
		{"a dead letter", func(t *testing.T, s *shop, d model.Disc, c int64) {
			// An order the writer gave up on: confirmed in Redis, never in Postgres.
			o := model.Order{ID: mustV7(t), CustomerID: c, DiscID: d.ID, Quantity: 2, UnitPriceCents: d.PriceCents, ReservedAt: time.Now().UTC().Truncate(time.Millisecond)}
			p := s.keys().Partition(d.ID)
			ctx := context.Background()
			s.rdb.HIncrBy(ctx, s.keys().Disc(d.ID), "avail", -2)
			s.rdb.HIncrBy(ctx, s.keys().Bought(d.ID), strconv.FormatInt(c, 10), 2)
			s.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: s.keys().DeadLetters(p), Values: map[string]any{"entry": "0-1", "o": rsredis.Record(o), "error": "test"}})
		}, func(d model.Disc, _ int64) []found { return []found{{Disc: d.ID, Verdict: "dead-letter", Dead: 1}} }, false, true},
		{"redis flushed entirely", func(t *testing.T, s *shop, d model.Disc, _ int64) {
			ctx := context.Background()
			keys, err := testenv.Keys(ctx, s.rdb, s.prefix)
			if err != nil || len(keys) == 0 {
				t.Fatalf("keys of the shop: %v %v", keys, err)
			}
			if err := testenv.DeleteKeys(ctx, s.rdb, s.prefix); err != nil {
				t.Fatal(err)
			}
		}, func(d model.Disc, _ int64) []found {
			return []found{{Disc: d.ID - 1, Verdict: "missing", Drift: -50}, {Disc: d.ID, Verdict: "missing", Drift: -9}}
		}, true, true},
		{"postgres stock tampered", func(t *testing.T, s *shop, d model.Disc, _ int64) {
			if _, err := s.Pool.Exec(context.Background(), `UPDATE discs SET stock = stock + 3 WHERE id = $1`, d.ID); err != nil {
				t.Fatal(err)
			}
		}, func(d model.Disc, _ int64) []found { return []found{{Disc: d.ID, Verdict: "ledger", Drift: -3}} }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No relay passes during the test: an event left unapplied must stay so until reconcile finds it.
			s := startShop(t, api.ModeRedis, time.Hour)
			s.createDisc(t, 50, 0, nil)      // a bystander that must stay ok
			d := s.createDisc(t, 10, 5, nil) // a limit: Redis counts each customer's units of it
			c := s.createCustomers(t, 1)[0]
			status, o := s.buy(t, c, d.ID, 1, "")
			if status != http.StatusCreated {
				t.Fatalf("buy: %d", status)
			}
			s.settle(t, map[string]bool{o.ID.String(): true})
			r := s.reconciler(service.ReconcileConfig{})
			if rep, err := r.Check(context.Background(), 0); err != nil || !rep.Clean {
				t.Fatalf("before the injection: %v %s %+v", err, rep.Summary, rep.Problems)
			}
			tt.inject(t, s, d, c)
			rep, err := r.Check(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []found
			for _, p := range rep.Problems {
				got = append(got, found{Disc: p.DiscID, Verdict: p.Verdict, Drift: p.Drift, Customers: p.Customers,
					Dead: p.DeadLetters, Stuck: p.StuckPending + p.StuckEvents})
			}
			if diff := cmp.Diff(tt.want(d, c), got); diff != "" || rep.Clean {
				t.Fatalf("report (-want +got):\n%s\nsummary: %s", diff, rep.Summary)
			}
			if tt.rebuild {
				rep, err = r.Rebuild(context.Background())
			} else {
				rep, err = r.Fix(context.Background(), rep)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.fixes {
				if rep.Clean || len(rep.Problems) != 1 || rep.Problems[0].Verdict != "ledger" {
					t.Fatalf("a broken ledger must stay reported after --fix: %s %+v", rep.Summary, rep.Problems)
				}
				return
			}
			// A check after the repair must come clean; the writer may still be taking a requeued dead letter.
			testenv.Eventually(t, 10*time.Second, "no check came clean after the repair", func() (bool, string) {
				after, err := r.Check(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				return after.Clean, fmt.Sprintf("%s %+v", after.Summary, after.Problems)
			})
		})
	}
}

// TestReconcileDiscNotYetInRedis: a disc created in Postgres that the relay has not brought to Redis yet
// (`recordshop seed` on a live shop does this to thousands at once) is in flight, not drift, until it is
// old enough to be stuck; --fix then loads it.
func TestReconcileDiscNotYetInRedis(t *testing.T) {
	ctx := context.Background()
	s := startShop(t, api.ModeRedis, time.Hour) // no relay pass during the test
	price := int64(1990)
	if err := pg.NewDiscs(s.Pool).CreateMany(ctx, []model.DiscCreate{{Name: "Seeded", Artist: "Seeder",
		ReleaseYear: 2001, Style: "Rock", PriceCents: &price, Stock: 136, StartsAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.Pool.QueryRow(ctx, `SELECT id FROM discs WHERE name = 'Seeded'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.rdb.Exists(ctx, s.keys().Disc(id)).Result(); n != 0 {
		t.Fatalf("the disc reached Redis without the relay; the test does not test anything")
	}
	r := s.reconciler(service.ReconcileConfig{})
	if rep, err := r.Check(ctx, 0); err != nil || !rep.Clean {
		t.Fatalf("a disc the relay has not loaded yet is reported: %v %s %+v", err, rep.Summary, rep.Problems)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE stock_events SET created_at = now() - interval '2 minutes' WHERE disc_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Check(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean || len(rep.Problems) != 1 || rep.Problems[0].DiscID != id || rep.Problems[0].Verdict != "stuck" {
		t.Fatalf("a disc left out of Redis for 2 minutes: want one stuck problem for disc %d, got %s %+v", id, rep.Summary, rep.Problems)
	}
	if rep, err = r.Fix(ctx, rep); err != nil || !rep.Clean {
		t.Fatalf("after --fix: %v %s %+v", err, rep.Summary, rep.Problems)
	}
	if avail, _ := s.rdb.HGet(ctx, s.keys().Disc(id), "avail").Int64(); avail != 136 {
		t.Fatalf("avail in Redis after --fix = %d; want 136", avail)
	}
}

func mustV7(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestReconcilePostgresOnly checks the ledger alone when orders never go through Redis.
func TestReconcilePostgresOnly(t *testing.T) {
	s := startShop(t, api.ModePostgres)
	d := s.createDisc(t, 10, 0, nil)
	c := s.createCustomers(t, 1)[0]
	if status, _ := s.buy(t, c, d.ID, 3, ""); status != http.StatusCreated {
		t.Fatalf("buy: %d", status)
	}
	r := api.NewReconciler(api.Deps{PG: s.Pool, Redis: s.rdb, Log: zap.NewNop(), Mode: api.ModePostgres}, service.ReconcileConfig{})
	if rep, err := r.Check(context.Background(), 0); err != nil || !rep.Clean || rep.Discs != 1 {
		t.Fatalf("postgres-only check: %v %+v", err, rep)
	}
	if _, err := s.Pool.Exec(context.Background(), `UPDATE discs SET stock = stock - 1 WHERE id = $1`, d.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Check(context.Background(), 0)
	if err != nil || rep.Clean || len(rep.Problems) != 1 || rep.Problems[0].Verdict != "ledger" || rep.Problems[0].LedgerStock != 7 {
		t.Fatalf("tampered stock: %v %+v", err, rep)
	}
}

// TestStartOnEmptiedRedis: a shop restarted on a Redis that lost its data (not --rebuild) must start its order
// streams past the orders Postgres has; otherwise reconcile takes every past order for one placed after its
// snapshot, and --fix would hand their units back for sale.
func TestStartOnEmptiedRedis(t *testing.T) {
	s := startShop(t, api.ModeRedis)
	d := s.createDisc(t, 10, 2, nil)
	c := s.createCustomers(t, 1)[0]
	confirmed := map[string]bool{}
	for range 2 {
		status, o := s.buy(t, c, d.ID, 1, "")
		if status != http.StatusCreated {
			t.Fatalf("buy: %d", status)
		}
		confirmed[o.ID.String()] = true
	}
	s.settle(t, confirmed)
	ctx := context.Background()
	if err := testenv.DeleteKeys(ctx, s.rdb, s.prefix); err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{PG: s.Pool, Redis: s.rdb, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Partitions: 4, Namespace: s.prefix, RedisWait: testenv.RedisWait()}
	if _, err := api.New(ctx, deps); err != nil {
		t.Fatalf("start on the emptied redis: %v", err)
	}
	rep, err := s.reconciler(service.ReconcileConfig{}).Check(ctx, 0)
	if err != nil || !rep.Clean {
		t.Fatalf("reconcile after a start on an emptied redis: %v %s %+v", err, rep.Summary, rep.Problems)
	}
	avail, err := s.rdb.HGet(ctx, s.keys().Disc(d.ID), "avail").Int64()
	if err != nil || avail != 8 {
		t.Fatalf("available after the start: %d (%v); want 8", avail, err)
	}
}

// TestDiscWithMorePastBuyersThanRedisLoads restarts on an emptied Redis a disc with a per-customer limit whose
// past buyers are more than a load puts into Redis (here: any): Redis then knows none of them, asks Postgres
// for each buyer's units at their first order, and still holds the limit exactly, under concurrent buyers
// and cancels, with every reconcile check clean.
func TestDiscWithMorePastBuyersThanRedisLoads(t *testing.T) {
	const limit = 2
	s := startShop(t, api.ModeRedis)
	d := s.createDisc(t, 1000, limit, nil)
	past := s.createCustomers(t, 20)
	confirmed := map[string]bool{}
	var firstOrders []uuid.UUID
	for i, c := range past { // customer i holds i%3 units: none, one, or the limit
		for range i % 3 {
			status, o := s.buy(t, c, d.ID, 1, "")
			if status != http.StatusCreated {
				t.Fatalf("past buy: %d %s", status, o.Type)
			}
			confirmed[o.ID.String()] = true
			if i%3 == 2 && len(firstOrders) < 3 {
				firstOrders = append(firstOrders, o.ID)
			}
		}
	}
	s.settle(t, confirmed)

	ctx := context.Background()
	if err := testenv.DeleteKeys(ctx, s.rdb, s.prefix); err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{PG: s.Pool, Redis: s.rdb, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Partitions: 4, Namespace: s.prefix, RedisWait: testenv.RedisWait(), LoadBuyersMax: -1}
	if _, err := api.New(ctx, deps); err != nil {
		t.Fatalf("start on the emptied redis: %v", err)
	}
	if n, err := s.rdb.HLen(ctx, s.keys().Bought(d.ID)).Result(); err != nil || n != 0 {
		t.Fatalf("buyers in redis after the load: %d (%v); want none", n, err)
	}
	r := s.reconciler(service.ReconcileConfig{})
	if rep, err := r.Check(ctx, 0); err != nil || !rep.Clean {
		t.Fatalf("reconcile after the partial load: %v %s %+v", err, rep.Summary, rep.Problems)
	}

	// A buyer at the limit in Postgres is refused; a cancel (applied where Redis does not know the buyer)
	// gives them one unit back.
	if status, a := s.buy(t, past[2], d.ID, 1, ""); status != http.StatusConflict || a.Type != problem.TypePrefix+"purchase-limit" {
		t.Fatalf("buyer at the limit: %d %s; want 409 purchase-limit", status, a.Type)
	}
	var cancelled model.Order
	if st, _ := s.call(t, "POST", "/v1/orders/"+firstOrders[1].String()+"/cancel", shopStorefront, nil, &cancelled); st != http.StatusOK {
		t.Fatalf("cancel: %d", st)
	}

	// Old and new buyers, concurrently, each trying for more than the limit, while some cancel.
	buyers := append(slices.Clone(past), s.createCustomers(t, 20)...)
	checks := make(chan error, 1)
	go func() {
		for range 5 {
			if rep, err := r.Check(ctx, 0); err != nil || !rep.Clean {
				checks <- fmt.Errorf("check under load: %v %s %+v", err, rep.Summary, rep.Problems)
				return
			}
		}
		checks <- nil
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(buyers)*3; i += 8 {
				status, a := s.buy(t, buyers[i%len(buyers)], d.ID, 1, "")
				if status == http.StatusCreated {
					mu.Lock()
					confirmed[a.ID.String()] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := <-checks; err != nil {
		t.Fatal(err)
	}
	s.settle(t, confirmed)

	var over int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT customer_id FROM orders
		WHERE disc_id = $1 AND status = 'confirmed' GROUP BY customer_id HAVING sum(quantity) <> $2) x`, d.ID, limit).Scan(&over); err != nil {
		t.Fatal(err)
	}
	if over != 0 {
		t.Fatalf("%d buyers hold other than the limit of %d after trying for more", over, limit)
	}
	if rep, err := r.Check(ctx, 0); err != nil || !rep.Clean {
		t.Fatalf("reconcile after the sale: %v %s %+v", err, rep.Summary, rep.Problems)
	}
	if rep, err := s.reconciler(service.ReconcileConfig{Full: true}).Check(ctx, 0); err != nil || !rep.Clean {
		t.Fatalf("full recount after the sale: %v %s %+v", err, rep.Summary, rep.Problems)
	}
	totalsMatchRecount(t, s)
}
