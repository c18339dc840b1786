package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/testenv"
)

const (
	shopAdmin      = "launch-admin-token"
	shopStorefront = "launch-storefront-token"
)

// shop is the whole recordshop on a real listener, with its writer and relay running, over a database and a
// Redis key prefix of its own.
type shop struct {
	base   string
	pool   *pgxpool.Pool
	rdb    *goredis.Client
	prefix string
	client *http.Client
}

var modes = []string{api.ModeRedis, api.ModePostgres}

// startShop starts the shop with its writer and relay (serve's harness, with the launch tests' tokens and the
// wall clock); relayEvery (optional) sets how often the stock relay sweeps the outbox.
func startShop(t *testing.T, mode string, relayEvery ...time.Duration) *shop {
	t.Helper()
	return shopOf(t, serve(t, serving{mode: mode, background: true, log: zap.NewNop(), tune: func(d *api.Deps) {
		launchDeps(d)
		d.Writer = service.WriterConfig{BatchSize: 200, BatchWait: 20 * time.Millisecond}
		d.RelayInterval = append(relayEvery, 0)[0]
	}}))
}

// launchDeps gives a shop the launch tests' tokens and the wall clock.
func launchDeps(d *api.Deps) {
	d.Tokens = mw.NewTokens([]string{shopAdmin}, []string{shopStorefront})
	d.Now = time.Now
}

// shopOf is the launch tests' view of a served API.
func shopOf(t *testing.T, a *testAPI) *shop {
	s := &shop{base: a.base, pool: a.pool, rdb: a.redis, prefix: a.prefix,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 128, MaxIdleConnsPerHost: 128}}}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// call sends one JSON request and decodes the answer into out (when not nil); it returns the status and headers.
func (s *shop) call(t *testing.T, method, path, token string, body any, out any, headers ...string) (int, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Errorf("%s %s: answer %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header
}

func (s *shop) createDisc(t *testing.T, stock int64, limit int, startsAt *string) model.Disc {
	t.Helper()
	var d model.Disc
	price := int64(4990)
	status, _ := s.call(t, "POST", "/v1/discs", shopAdmin, model.DiscCreate{Name: "We are Reactive", Artist: "Hohpe",
		ReleaseYear: 2022, Style: "Indie", PriceCents: &price, Stock: stock, PerCustomerLimit: limit, SaleStartsAt: startsAt}, &d)
	if status != http.StatusCreated {
		t.Fatalf("create disc: status %d", status)
	}
	return d
}

// createCustomers inserts n customers straight into Postgres (the launch is what is under test) and returns
// their ids.
func (s *shop) createCustomers(t *testing.T, n int) []int64 {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `INSERT INTO customers (document, name, email, birth_date)
		SELECT lpad(i::text, 11, '0'), 'Buyer ' || i, 'buyer' || i || '@example.com', '1990-01-01'
		FROM generate_series(1, $1) AS i RETURNING id`, n)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

type problemAnswer struct {
	Type         string `json:"type"`
	UnitsLeft    *int64 `json:"units_left"`
	UnitsAllowed *int64 `json:"units_allowed"`
	StartsAt     string `json:"starts_at"`
}

// orderAnswer is an order (2xx) or a problem (4xx/5xx).
type orderAnswer struct {
	model.Order
	problemAnswer
}

// buy places one order; it returns the status and the answer (an order or a problem).
func (s *shop) buy(t *testing.T, customer, disc int64, qty int, key string) (int, orderAnswer) {
	var a orderAnswer
	var headers []string
	if key != "" {
		headers = []string{"Idempotency-Key", key}
	}
	var raw json.RawMessage
	status, _ := s.call(t, "POST", "/v1/orders", shopStorefront, model.OrderCreate{CustomerID: customer, DiscID: disc, Quantity: qty}, &raw, headers...)
	var err error
	if status < 300 {
		err = json.Unmarshal(raw, &a.Order)
	} else {
		err = json.Unmarshal(raw, &a.problemAnswer)
	}
	if err != nil {
		t.Errorf("order answer %s: %v", raw, err)
	}
	return status, a
}

// settle waits until Postgres holds as many orders as ids, then checks that each is there exactly once, that
// no other order exists, and that the ledger identity holds for every disc.
func (s *shop) settle(t *testing.T, ids map[string]bool) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, 20*time.Second, "the writer did not put every confirmed order in Postgres", func() (bool, string) {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n >= len(ids), fmt.Sprintf("%d of %d orders in Postgres", n, len(ids))
	})
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		seen[id]++
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("confirmed order %s is in Postgres %d times", id, seen[id])
		}
	}
	for id := range seen {
		if !ids[id] {
			t.Errorf("order %s is in Postgres but was never confirmed", id)
		}
	}
	var bad int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM discs d WHERE d.stock < 0 OR d.stock <>
		COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
		- COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d discs break the ledger identity", bad)
	}
}

func TestLaunchSellsExactlyTheStock(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startShop(t, mode)
			disc := s.createDisc(t, 500, 0, nil)
			buyers := s.createCustomers(t, 3000)
			var mu sync.Mutex
			confirmed := map[string]bool{}
			statuses := map[string]int{}
			var wg sync.WaitGroup
			for _, c := range buyers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, a := s.buy(t, c, disc.ID, 1, "")
					mu.Lock()
					defer mu.Unlock()
					statuses[fmt.Sprint(status, a.Type)]++
					if status == http.StatusCreated {
						confirmed[a.ID.String()] = true
					} else if a.UnitsLeft == nil || *a.UnitsLeft != 0 {
						t.Errorf("refusal %d %s without units_left 0", status, a.Type)
					}
				}()
			}
			wg.Wait()
			want := map[string]int{"201": 500, "409urn:recordshop:problem:sold-out": 2500}
			if fmt.Sprint(statuses) != fmt.Sprint(want) || len(confirmed) != 500 {
				t.Fatalf("answers %v, %d distinct orders; want %v", statuses, len(confirmed), want)
			}
			s.settle(t, confirmed)
			var got model.Disc
			s.call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &got)
			if got.Stock != 0 || got.Available != 0 {
				t.Fatalf("after the launch stock %d, available %d; want 0, 0", got.Stock, got.Available)
			}
		})
	}
}

func TestLaunchPerCustomerLimit(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startShop(t, mode)
			disc := s.createDisc(t, 10_000, 2, nil)
			buyers := s.createCustomers(t, 60)
			var mu sync.Mutex
			perCustomer := map[int64]int{}
			confirmed := map[string]bool{}
			var wg sync.WaitGroup
			for _, c := range buyers {
				for range 5 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						status, a := s.buy(t, c, disc.ID, 1, "")
						mu.Lock()
						defer mu.Unlock()
						switch {
						case status == http.StatusCreated:
							perCustomer[c]++
							confirmed[a.ID.String()] = true
						case status != http.StatusConflict || a.Type != "urn:recordshop:problem:purchase-limit":
							t.Errorf("status %d %s; want 201 or 409 purchase-limit", status, a.Type)
						}
					}()
				}
			}
			wg.Wait()
			for _, c := range buyers {
				if perCustomer[c] != 2 {
					t.Errorf("customer %d got %d units; want exactly the limit, 2", c, perCustomer[c])
				}
			}
			s.settle(t, confirmed)
		})
	}
}

func TestLaunchIdempotencyKeyMakesOneOrder(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startShop(t, mode)
			disc := s.createDisc(t, 100, 0, nil)
			buyer := s.createCustomers(t, 1)[0]
			var mu sync.Mutex
			ids := map[string]bool{}
			statuses := map[int]int{}
			var wg sync.WaitGroup
			for range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, a := s.buy(t, buyer, disc.ID, 2, "retry-me-0001")
					mu.Lock()
					defer mu.Unlock()
					statuses[status]++
					ids[a.ID.String()] = true
				}()
			}
			wg.Wait()
			if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != 199 || len(ids) != 1 {
				t.Fatalf("statuses %v with %d distinct orders; want one 201, 199 replays (200) of one order", statuses, len(ids))
			}
			s.settle(t, ids)
			var got model.Disc
			s.call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &got)
			if got.Available != 98 {
				t.Fatalf("available %d after one order of 2; want 98", got.Available)
			}
			status, a := s.buy(t, buyer, disc.ID, 3, "retry-me-0001")
			if status != http.StatusUnprocessableEntity || a.Type != "urn:recordshop:problem:idempotency-key-reused" {
				t.Fatalf("key reused with another quantity: %d %s; want 422 idempotency-key-reused", status, a.Type)
			}
		})
	}
}

func TestOrderRefusals(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startShop(t, mode)
			later := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
			onSale, upcoming := s.createDisc(t, 10, 0, nil), s.createDisc(t, 10, 0, &later)
			buyers := s.createCustomers(t, 2)
			if status, _ := s.call(t, "DELETE", fmt.Sprintf("/v1/customers/%d", buyers[1]), shopAdmin, nil, nil); status != http.StatusOK {
				t.Fatalf("deactivate: %d", status)
			}
			tests := []struct {
				name     string
				customer int64
				disc     int64
				status   int
				kind     string
			}{
				{"inactive customer", buyers[1], onSale.ID, http.StatusForbidden, "customer-inactive"},
				{"sale not started", buyers[0], upcoming.ID, http.StatusConflict, "sale-not-started"},
				{"unknown disc", buyers[0], 999_999, http.StatusNotFound, "not-found"},
				{"unknown customer", 999_999, onSale.ID, http.StatusNotFound, "not-found"},
				{"more than the stock", buyers[0], onSale.ID, http.StatusConflict, "sold-out"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					qty := 1
					if tt.kind == "sold-out" {
						qty = 11
					}
					status, a := s.buy(t, tt.customer, tt.disc, qty, "")
					if status != tt.status || a.Type != "urn:recordshop:problem:"+tt.kind {
						t.Fatalf("answer %d %s; want %d %s", status, a.Type, tt.status, tt.kind)
					}
					if tt.kind == "sale-not-started" && a.StartsAt != later {
						t.Fatalf("starts_at %q; want %q", a.StartsAt, later)
					}
				})
			}
			// Reactivated, the customer can buy again.
			if status, _ := s.call(t, "POST", fmt.Sprintf("/v1/customers/%d/reactivate", buyers[1]), shopAdmin, nil, nil); status != http.StatusOK {
				t.Fatalf("reactivate: %d", status)
			}
			status, a := s.buy(t, buyers[1], onSale.ID, 1, "")
			if status != http.StatusCreated {
				t.Fatalf("reactivated customer: %d %s", status, a.Type)
			}
			s.settle(t, map[string]bool{a.ID.String(): true})
		})
	}
}

func TestCancelReturnsUnitsOnce(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := startShop(t, mode)
			disc := s.createDisc(t, 5, 1, nil)
			buyer := s.createCustomers(t, 1)[0]
			status, first := s.buy(t, buyer, disc.ID, 1, "")
			if status != http.StatusCreated {
				t.Fatalf("buy: %d %s", status, first.Type)
			}
			var seen model.Order
			if status, _ := s.call(t, "GET", "/v1/orders/"+first.ID.String(), shopStorefront, nil, &seen); status != http.StatusOK || seen.ID != first.ID {
				t.Fatalf("GET the order right after its 201: %d %+v", status, seen)
			}
			if status, a := s.buy(t, buyer, disc.ID, 1, ""); status != http.StatusConflict || a.Type != "urn:recordshop:problem:purchase-limit" {
				t.Fatalf("second unit over the limit of 1: %d %s", status, a.Type)
			}
			var cancelled model.Order
			if status, _ := s.call(t, "POST", "/v1/orders/"+first.ID.String()+"/cancel", shopStorefront, nil, &cancelled); status != http.StatusOK || cancelled.Status != model.StatusCancelled {
				t.Fatalf("cancel: %d %+v", status, cancelled)
			}
			var d model.Disc
			s.call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &d)
			if d.Stock != 5 || d.Available != 5 {
				t.Fatalf("after the cancel stock %d, available %d; want 5, 5", d.Stock, d.Available)
			}
			if status, _ := s.call(t, "POST", "/v1/orders/"+first.ID.String()+"/cancel", shopStorefront, nil, &cancelled); status != http.StatusOK || cancelled.Status != model.StatusCancelled {
				t.Fatalf("second cancel: %d %+v", status, cancelled)
			}
			s.call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &d)
			if d.Stock != 5 || d.Available != 5 {
				t.Fatalf("a second cancel changed stock to %d, available to %d", d.Stock, d.Available)
			}
			// The limit came back with the units.
			status, second := s.buy(t, buyer, disc.ID, 1, "")
			if status != http.StatusCreated {
				t.Fatalf("buy after the cancel: %d %s", status, second.Type)
			}
			s.settle(t, map[string]bool{first.ID.String(): true, second.ID.String(): true})
			var events int
			_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM stock_events WHERE reason = 'cancel'`).Scan(&events)
			if events != 1 {
				t.Fatalf("%d cancel stock events; want 1", events)
			}
		})
	}
}

func TestPartitionCountMismatchIsRefused(t *testing.T) {
	pool := testenv.PG(t)
	rdb, prefix := testenv.Redis(t)
	deps := api.Deps{PG: pool, Redis: rdb, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Tokens: mw.NewTokens([]string{shopAdmin}, []string{shopStorefront}), Partitions: 4, Namespace: prefix}
	if _, err := api.New(context.Background(), deps); err != nil {
		t.Fatalf("first start: %v", err)
	}
	deps.Partitions, deps.Registry = 8, prometheus.NewRegistry()
	if _, err := api.New(context.Background(), deps); !errors.Is(err, model.ErrPartitionsDisagree) {
		t.Fatalf("start with 8 partitions after 4: err = %v; want ErrPartitionsDisagree", err)
	}
	// Redis alone disagreeing (a fresh database, the same Redis) is refused too.
	deps.PG, deps.Partitions, deps.Registry = testenv.PG(t), 8, prometheus.NewRegistry()
	if _, err := api.New(context.Background(), deps); !errors.Is(err, model.ErrPartitionsDisagree) {
		t.Fatalf("redis made with 4 partitions, started with 8: err = %v; want ErrPartitionsDisagree", err)
	}
}

// TestBacklogBoundSheds503 fills a partition's backlog with the writer stopped: past RS_MAX_BACKLOG orders
// answer 503 with Retry-After, and a replay of a recorded request is still answered.
func TestBacklogBoundSheds503(t *testing.T) {
	// No writer: nothing flushes, the backlog only grows.
	s := shopOf(t, serve(t, serving{log: zap.NewNop(), tune: func(d *api.Deps) {
		launchDeps(d)
		d.Orders = service.OrderConfig{MaxBacklog: 3}
	}}))
	d := s.createDisc(t, 100, 0, nil)
	buyers := s.createCustomers(t, 5)
	for i, c := range buyers[:3] {
		if status, _ := s.buy(t, c, d.ID, 1, fmt.Sprintf("b-%d", i)); status != http.StatusCreated {
			t.Fatalf("order %d within the bound: %d", i, status)
		}
	}
	var raw json.RawMessage
	status, headers := s.call(t, "POST", "/v1/orders", shopStorefront, model.OrderCreate{CustomerID: buyers[3], DiscID: d.ID, Quantity: 1}, &raw)
	if status != http.StatusServiceUnavailable || headers.Get("Retry-After") != "1" {
		t.Fatalf("past the bound: %d Retry-After %q %s; want 503 with Retry-After 1", status, headers.Get("Retry-After"), raw)
	}
	if status, _ := s.buy(t, buyers[0], d.ID, 1, "b-0"); status != http.StatusOK {
		t.Fatalf("replay past the bound: %d; want 200", status)
	}
	var got model.Disc
	s.call(t, "GET", fmt.Sprintf("/v1/discs/%d", d.ID), "", nil, &got)
	if got.Available != 97 {
		t.Fatalf("available %d; want 97 (the shed order took nothing)", got.Available)
	}
}
