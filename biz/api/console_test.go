package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/console"
	"github.com/learecordshop/recordshop/biz/service"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// consoleShop is the whole shop on a real listener with its writer and relay, the wall clock, and the
// periodic reconcile every `every` (0: off).
func consoleShop(t *testing.T, mode string, every time.Duration) *shop {
	t.Helper()
	return shopOf(t, serve(t, serving{mode: mode, background: true, log: zap.NewNop(), tune: func(d *api.Deps) {
		launchDeps(d)
		d.Writer = service.WriterConfig{BatchSize: 200, BatchWait: 20 * time.Millisecond}
		d.ReconcileEvery = every
	}}))
}

// consoleView reads GET /v1/admin/console as the page does.
func (s *shop) consoleView(t *testing.T) console.View {
	t.Helper()
	var v console.View
	if status, _ := s.call(t, http.MethodGet, "/v1/admin/console", shopAdmin, nil, &v); status != http.StatusOK {
		t.Fatalf("GET /v1/admin/console: %d", status)
	}
	return v
}

// find is a disc of the view, nil when the view does not show it.
func find(v console.View, id int64) *console.DiscView {
	for i := range v.Discs {
		if v.Discs[i].ID == id {
			return &v.Discs[i]
		}
	}
	return nil
}

// sellOut has every buyer order one unit of the disc at once, and returns how many got 201 and how many 409.
func (s *shop) sellOut(t *testing.T, discID int64, buyers []int64) (created, refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range buyers {
		wg.Go(func() {
			status, _ := s.buy(t, c, discID, 1, "")
			mu.Lock()
			defer mu.Unlock()
			switch status {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				refused++
			default:
				t.Errorf("order of customer %d: %d", c, status)
			}
		})
	}
	wg.Wait()
	return created, refused
}

// redisAvailable is the live count Redis sells the disc from.
func (s *shop) redisAvailable(t *testing.T, discID int64) int64 {
	t.Helper()
	n, err := s.rdb.HGet(context.Background(), rsredis.Keys{Namespace: s.prefix, Partitions: 4}.Disc(discID), "avail").Int64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ledger is what Postgres has of a disc: the units it was given (stock events other than cancels) and the
// units of its confirmed orders.
func (s *shop) ledger(t *testing.T, discID int64) (supplied, sold int64) {
	t.Helper()
	err := s.Pool.QueryRow(context.Background(), `SELECT
		(SELECT COALESCE(sum(delta), 0) FROM stock_events WHERE disc_id = $1 AND reason <> 'cancel'),
		(SELECT COALESCE(sum(quantity), 0) FROM orders WHERE disc_id = $1 AND status = 'confirmed')`, discID).Scan(&supplied, &sold)
	if err != nil {
		t.Fatal(err)
	}
	return supplied, sold
}

// metric reads one series' value from /metrics ("name" or `name{labels}` as exposed).
func (s *shop) metric(t *testing.T, series string) float64 {
	t.Helper()
	res, err := http.Get(s.Bases[0] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return 0
}

// TestConsoleShowsALaunch sells a disc out and holds what GET /v1/admin/console shows against the stores:
// units left against Redis, sold against Postgres, the answers the buyers got, the writer drained, a clean
// periodic reconcile after the launch, and the recordshop_reconcile_* metrics.
func TestConsoleShowsALaunch(t *testing.T) {
	t.Parallel()
	s := consoleShop(t, api.ModeRedis, 300*time.Millisecond)

	t.Run("admin only, no parameters", func(t *testing.T) {
		if status, _ := s.call(t, http.MethodGet, "/v1/admin/console", shopStorefront, nil, nil); status != http.StatusForbidden {
			t.Errorf("storefront token: %d, want 403", status)
		}
		if status, _ := s.call(t, http.MethodGet, "/v1/admin/console?disc=1", shopAdmin, nil, nil); status != http.StatusBadRequest {
			t.Errorf("unknown parameter: %d, want 400", status)
		}
	})

	launch := s.createDisc(t, 20, 0, nil)
	soon := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	upcoming := s.createDisc(t, 5, 0, &soon)
	longAgo := time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339)
	catalog := s.createDisc(t, 5, 0, &longAgo)
	buyers := s.createCustomers(t, 30)
	created, refused := s.sellOut(t, launch.ID, buyers)
	if created != 20 || refused != 10 {
		t.Fatalf("the launch answered %d 201 and %d 409, want 20 and 10", created, refused)
	}
	soldOut := time.Now()

	var v console.View
	testenv.Eventually(t, 30*time.Second, "the console shows the launch settled and checked", func() (bool, string) {
		v = s.consoleView(t)
		d := find(v, launch.ID)
		switch {
		case d == nil:
			return false, "the launch disc is not shown"
		case d.Available == nil || *d.Available != 0:
			return false, fmt.Sprintf("available %v", d.Available)
		case d.Orders.Created != 20 || d.Orders.Conflict != 10:
			return false, fmt.Sprintf("orders %+v", d.Orders)
		case v.Writer.Backlog != 0 || v.Writer.Landed < 20:
			return false, fmt.Sprintf("writer %+v", v.Writer)
		case v.Reconcile.Result != service.RunClean || v.Reconcile.StartedAt == nil || !v.Reconcile.StartedAt.After(soldOut):
			return false, fmt.Sprintf("reconcile %+v", v.Reconcile)
		}
		return true, ""
	})

	d := find(v, launch.ID)
	supplied, sold := s.ledger(t, launch.ID)
	if got := s.redisAvailable(t, launch.ID); *d.Available != got {
		t.Errorf("available %d, Redis %d", *d.Available, got)
	}
	if *d.Sold != sold || d.Supplied != supplied || sold != supplied {
		t.Errorf("sold %d of %d; Postgres: %d confirmed units of %d supplied (sold out: all of them)", *d.Sold, d.Supplied, sold, supplied)
	}
	if d.SoldOutAt == nil || d.SoldOutAt.Before(launch.CreatedAt) || d.SoldOutAt.After(soldOut) {
		t.Errorf("sold out at %v, want a time during the launch (%v to %v)", d.SoldOutAt, launch.CreatedAt, soldOut)
	}
	if !d.OnSale || d.Reconcile != service.VerdictOK || d.Orders.P50Ms == nil || d.Orders.P99Ms == nil || *d.Orders.P99Ms < *d.Orders.P50Ms {
		t.Errorf("launch disc %+v: want on sale, reconcile ok, p50 <= p99", d)
	}
	if u := find(v, upcoming.ID); u == nil || u.OnSale || u.Available == nil || *u.Available != 5 || *u.Sold != 0 || u.SoldOutAt != nil {
		t.Errorf("upcoming disc %+v: want shown, not on sale, 5 left, none sold", u)
	}
	if find(v, catalog.ID) != nil {
		t.Errorf("a disc on sale for three days, and not ordered, is shown")
	}
	if len(v.Partitions) != 4 || v.Writer.LagP99Seconds == nil || v.Writer.DeadLetters != 0 {
		t.Errorf("partitions %+v, writer %+v: want 4 partitions, the writer's lag, no dead letters", v.Partitions, v.Writer)
	}
	if v.Live != "ok" || v.Reconcile.Trigger != "periodic" || v.Reconcile.EverySeconds != 0.3 || v.Reconcile.Drifting != 0 {
		t.Errorf("view %+v", v)
	}

	if n := s.metric(t, `recordshop_reconcile_runs_total{result="clean"}`); n < 1 {
		t.Errorf("runs_total{clean} = %v", n)
	}
	if n := s.metric(t, "recordshop_reconcile_drifting_discs"); n != 0 {
		t.Errorf("drifting discs %v, want 0", n)
	}
	for _, name := range []string{"recordshop_reconcile_last_run_timestamp_seconds", "recordshop_reconcile_last_clean_timestamp_seconds"} {
		if at := s.metric(t, name); at < float64(soldOut.Unix()) {
			t.Errorf("%s = %v, want a time after the launch (%d)", name, at, soldOut.Unix())
		}
	}
}

// An operator's whole-shop check through the API is kept and exported like a periodic one; a check of one
// disc is not.
func TestConsoleKeepsAnOperatorsReconcile(t *testing.T) {
	t.Parallel()
	s := consoleShop(t, api.ModeRedis, 0)
	d := s.createDisc(t, 3, 0, nil)
	if v := s.consoleView(t); v.Reconcile.Ran || v.Reconcile.EverySeconds != 0 {
		t.Fatalf("reconcile before any check: %+v", v.Reconcile)
	}
	if status, _ := s.call(t, http.MethodGet, fmt.Sprintf("/v1/admin/reconcile?disc=%d", d.ID), shopAdmin, nil, nil); status != http.StatusOK {
		t.Fatalf("check of one disc: %d", status)
	}
	if n := s.metric(t, `recordshop_reconcile_runs_total{result="clean"}`); n != 0 {
		t.Fatalf("a check of one disc was counted as a whole-shop check")
	}
	if status, _ := s.call(t, http.MethodGet, "/v1/admin/reconcile", shopAdmin, nil, nil); status != http.StatusOK {
		t.Fatalf("whole-shop check: %d", status)
	}
	testenv.Eventually(t, 5*time.Second, "the view shows the operator's check", func() (bool, string) {
		r := s.consoleView(t).Reconcile
		return r.Ran && r.Result == service.RunClean && r.Trigger == "manual" && r.Checked == 1, fmt.Sprintf("%+v", r)
	})
	if n := s.metric(t, `recordshop_reconcile_runs_total{result="clean"}`); n != 1 {
		t.Errorf("runs_total{clean} = %v, want 1", n)
	}
}

// In a shop that reserves in Postgres only, the ledger's stock is what sells, no partition waits, and the
// periodic check is the ledger's.
func TestConsoleInPostgresMode(t *testing.T) {
	t.Parallel()
	s := consoleShop(t, api.ModePostgres, 300*time.Millisecond)
	d := s.createDisc(t, 4, 0, nil)
	created, refused := s.sellOut(t, d.ID, s.createCustomers(t, 6))
	if created != 4 || refused != 2 {
		t.Fatalf("%d 201 and %d 409, want 4 and 2", created, refused)
	}
	testenv.Eventually(t, 20*time.Second, "the console shows the sale and a ledger check", func() (bool, string) {
		v := s.consoleView(t)
		got := find(v, d.ID)
		ok := got != nil && got.Available != nil && *got.Available == 0 && *got.Sold == 4 && got.SoldOutAt != nil &&
			len(v.Partitions) == 0 && v.Reconcile.Result == service.RunClean && v.Live == "ok"
		return ok, fmt.Sprintf("%+v", v)
	})
}

// A Redis that does not answer leaves the live counts unknown, and the periodic check an error, while the
// rest of the view is still answered.
func TestConsoleWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	s := consoleShop(t, api.ModeRedis, 300*time.Millisecond)
	d := s.createDisc(t, 3, 0, nil)
	testenv.Eventually(t, 10*time.Second, "a clean check of the disc first", func() bool {
		r := s.consoleView(t).Reconcile
		return r.Result == service.RunClean && r.Checked == 1
	})
	if err := s.rdb.Close(); err != nil { // the shop's own client: Redis is gone for it
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the view says Redis is unavailable", func() (bool, string) {
		v := s.consoleView(t)
		got := find(v, d.ID)
		ok := v.Live == "unavailable" && v.LiveError != "" && got != nil && got.Available == nil && got.Sold == nil &&
			v.Reconcile.Result == service.RunError && v.Reconcile.Checked == 1
		return ok, fmt.Sprintf("%+v", v)
	})
	if n := s.metric(t, `recordshop_reconcile_runs_total{result="error"}`); n < 1 {
		t.Errorf("runs_total{error} = %v", n)
	}
}
