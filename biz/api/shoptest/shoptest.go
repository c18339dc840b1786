// Package shoptest plays a storefront against a running shop: it places orders, creates discs and customers
// through the API, and holds the launch scenarios every deployment of recordshop must pass. A Shop is one or
// more API replicas over one Postgres, whatever runs them: the in-process harness of biz/api, or the
// `serve --no-writer` and `recordshop writer` processes of cmd/recordshop's scale-out tests on Redis Cluster.
// Requests go to the replicas in turn, so a scenario run on two replicas crosses between them at every step.
//
// It is imported by tests only. It reads Postgres to check what the writer landed, never Redis: a scenario
// says what a buyer and an operator can see.
package shoptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// Shop is a running shop as a storefront and an operator see it.
type Shop struct {
	Bases      []string // "http://host:port" of each API replica
	Pool       *pgxpool.Pool
	Admin      string // bearer tokens
	Storefront string

	client *http.Client
	turn   atomic.Uint64
}

// New is the shop behind bases; t.Cleanup closes its idle connections.
func New(t *testing.T, bases []string, pool *pgxpool.Pool, admin, storefront string) *Shop {
	s := &Shop{Bases: bases, Pool: pool, Admin: admin, Storefront: storefront,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 128, MaxIdleConnsPerHost: 128}}}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// next is the replica the next request goes to.
func (s *Shop) next() string {
	return s.Bases[int(s.turn.Add(1)%uint64(len(s.Bases)))]
}

// Call sends one JSON request, to the next replica in turn, and decodes the answer into out (when not nil); it returns the status and headers.
func (s *Shop) Call(t *testing.T, method, path, token string, body any, out any, headers ...string) (int, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.next()+path, r)
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

func (s *Shop) CreateDisc(t *testing.T, stock int64, limit int, startsAt *string) model.Disc {
	t.Helper()
	var d model.Disc
	price := int64(4990)
	status, _ := s.Call(t, "POST", "/v1/discs", s.Admin, model.DiscCreate{Name: "We are Reactive", Artist: "Hohpe",
		ReleaseYear: 2022, Style: "Indie", PriceCents: &price, Stock: stock, PerCustomerLimit: limit, SaleStartsAt: startsAt}, &d)
	if status != http.StatusCreated {
		t.Fatalf("create disc: status %d", status)
	}
	return d
}

// CreateCustomers inserts n customers straight into Postgres (the launch is what is under test) and returns
// their ids.
func (s *Shop) CreateCustomers(t *testing.T, n int) []int64 {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `INSERT INTO customers (document, name, email, birth_date)
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

// Problem is the part of a problem answer the scenarios read.
type Problem struct {
	Type         string `json:"type"`
	UnitsLeft    *int64 `json:"units_left"`
	UnitsAllowed *int64 `json:"units_allowed"`
	StartsAt     string `json:"starts_at"`
}

// Answer is an order (2xx) or a problem (4xx/5xx).
type Answer struct {
	model.Order
	Problem
}

// Buy places one order; it returns the status and the answer (an order or a problem).
func (s *Shop) Buy(t *testing.T, customer, disc int64, qty int, key string) (int, Answer) {
	var a Answer
	var headers []string
	if key != "" {
		headers = []string{"Idempotency-Key", key}
	}
	var raw json.RawMessage
	status, _ := s.Call(t, "POST", "/v1/orders", s.Storefront, model.OrderCreate{CustomerID: customer, DiscID: disc, Quantity: qty}, &raw, headers...)
	var err error
	if status < 300 {
		err = json.Unmarshal(raw, &a.Order)
	} else {
		err = json.Unmarshal(raw, &a.Problem)
	}
	if err != nil {
		t.Errorf("order answer %s: %v", raw, err)
	}
	return status, a
}

// Settle waits until Postgres holds as many orders as ids, then checks that each is there exactly once, that
// no other order exists, and that the ledger identity holds for every disc.
func (s *Shop) Settle(t *testing.T, ids map[string]bool) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, 20*time.Second, "the writer did not put every confirmed order in Postgres", func() (bool, string) {
		var n int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n >= len(ids), fmt.Sprintf("%d of %d orders in Postgres", n, len(ids))
	})
	rows, err := s.Pool.Query(ctx, `SELECT id::text FROM orders`)
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
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM discs d WHERE d.stock < 0 OR d.stock <>
		COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
		- COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d discs break the ledger identity", bad)
	}
}

// SellsExactlyTheStock: 3,000 buyers at once for a disc of 500 units get exactly 500 orders (201) and 2,500
// sold-out refusals that say no units are left; Postgres ends with every order once and no stock.
func SellsExactlyTheStock(t *testing.T, s *Shop) {
	disc := s.CreateDisc(t, 500, 0, nil)
	buyers := s.CreateCustomers(t, 3000)
	var mu sync.Mutex
	confirmed := map[string]bool{}
	statuses := map[string]int{}
	var wg sync.WaitGroup
	for _, c := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, a := s.Buy(t, c, disc.ID, 1, "")
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
	s.Settle(t, confirmed)
	var got model.Disc
	s.Call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &got)
	if got.Stock != 0 || got.Available != 0 {
		t.Fatalf("after the launch stock %d, available %d; want 0, 0", got.Stock, got.Available)
	}
}

// PerCustomerLimit: 60 buyers try 5 units each, at once, of a disc limited to 2 per customer; each gets exactly 2.
func PerCustomerLimit(t *testing.T, s *Shop) {
	disc := s.CreateDisc(t, 10_000, 2, nil)
	buyers := s.CreateCustomers(t, 60)
	var mu sync.Mutex
	perCustomer := map[int64]int{}
	confirmed := map[string]bool{}
	var wg sync.WaitGroup
	for _, c := range buyers {
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, a := s.Buy(t, c, disc.ID, 1, "")
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
	s.Settle(t, confirmed)
}

// IdempotencyKeyMakesOneOrder: 200 concurrent requests with one Idempotency-Key make one order (one 201, 199
// replays), and the key reused for another request is refused.
func IdempotencyKeyMakesOneOrder(t *testing.T, s *Shop) {
	disc := s.CreateDisc(t, 100, 0, nil)
	buyer := s.CreateCustomers(t, 1)[0]
	var mu sync.Mutex
	ids := map[string]bool{}
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, a := s.Buy(t, buyer, disc.ID, 2, "retry-me-0001")
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
	s.Settle(t, ids)
	var got model.Disc
	s.Call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &got)
	if got.Available != 98 {
		t.Fatalf("available %d after one order of 2; want 98", got.Available)
	}
	status, a := s.Buy(t, buyer, disc.ID, 3, "retry-me-0001")
	if status != http.StatusUnprocessableEntity || a.Type != "urn:recordshop:problem:idempotency-key-reused" {
		t.Fatalf("key reused with another quantity: %d %s; want 422 idempotency-key-reused", status, a.Type)
	}
}

// OrderRefusals: an inactive customer, a sale not started yet (with its start), an unknown disc or customer and
// more than the stock are each refused with their own problem; a reactivated customer buys again.
func OrderRefusals(t *testing.T, s *Shop) {
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	onSale, upcoming := s.CreateDisc(t, 10, 0, nil), s.CreateDisc(t, 10, 0, &later)
	buyers := s.CreateCustomers(t, 2)
	if status, _ := s.Call(t, "DELETE", fmt.Sprintf("/v1/customers/%d", buyers[1]), s.Admin, nil, nil); status != http.StatusOK {
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
			status, a := s.Buy(t, tt.customer, tt.disc, qty, "")
			if status != tt.status || a.Type != "urn:recordshop:problem:"+tt.kind {
				t.Fatalf("answer %d %s; want %d %s", status, a.Type, tt.status, tt.kind)
			}
			if tt.kind == "sale-not-started" && a.StartsAt != later {
				t.Fatalf("starts_at %q; want %q", a.StartsAt, later)
			}
		})
	}
	// Reactivated, the customer can buy again.
	if status, _ := s.Call(t, "POST", fmt.Sprintf("/v1/customers/%d/reactivate", buyers[1]), s.Admin, nil, nil); status != http.StatusOK {
		t.Fatalf("reactivate: %d", status)
	}
	status, a := s.Buy(t, buyers[1], onSale.ID, 1, "")
	if status != http.StatusCreated {
		t.Fatalf("reactivated customer: %d %s", status, a.Type)
	}
	s.Settle(t, map[string]bool{a.ID.String(): true})
}

// CancelReturnsUnitsOnce: an order is readable right after its 201, its cancel returns the units and the
// customer's limit once, and a second cancel changes nothing.
func CancelReturnsUnitsOnce(t *testing.T, s *Shop) {
	disc := s.CreateDisc(t, 5, 1, nil)
	buyer := s.CreateCustomers(t, 1)[0]
	status, first := s.Buy(t, buyer, disc.ID, 1, "")
	if status != http.StatusCreated {
		t.Fatalf("buy: %d %s", status, first.Type)
	}
	var seen model.Order
	if status, _ := s.Call(t, "GET", "/v1/orders/"+first.ID.String(), s.Storefront, nil, &seen); status != http.StatusOK || seen.ID != first.ID {
		t.Fatalf("GET the order right after its 201: %d %+v", status, seen)
	}
	if status, a := s.Buy(t, buyer, disc.ID, 1, ""); status != http.StatusConflict || a.Type != "urn:recordshop:problem:purchase-limit" {
		t.Fatalf("second unit over the limit of 1: %d %s", status, a.Type)
	}
	var cancelled model.Order
	if status, _ := s.Call(t, "POST", "/v1/orders/"+first.ID.String()+"/cancel", s.Storefront, nil, &cancelled); status != http.StatusOK || cancelled.Status != model.StatusCancelled {
		t.Fatalf("cancel: %d %+v", status, cancelled)
	}
	var d model.Disc
	s.Call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &d)
	if d.Stock != 5 || d.Available != 5 {
		t.Fatalf("after the cancel stock %d, available %d; want 5, 5", d.Stock, d.Available)
	}
	if status, _ := s.Call(t, "POST", "/v1/orders/"+first.ID.String()+"/cancel", s.Storefront, nil, &cancelled); status != http.StatusOK || cancelled.Status != model.StatusCancelled {
		t.Fatalf("second cancel: %d %+v", status, cancelled)
	}
	s.Call(t, "GET", fmt.Sprintf("/v1/discs/%d", disc.ID), "", nil, &d)
	if d.Stock != 5 || d.Available != 5 {
		t.Fatalf("a second cancel changed stock to %d, available to %d", d.Stock, d.Available)
	}
	// The limit came back with the units.
	status, second := s.Buy(t, buyer, disc.ID, 1, "")
	if status != http.StatusCreated {
		t.Fatalf("buy after the cancel: %d %s", status, second.Type)
	}
	s.Settle(t, map[string]bool{first.ID.String(): true, second.ID.String(): true})
	var events int
	_ = s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM stock_events WHERE reason = 'cancel'`).Scan(&events)
	if events != 1 {
		t.Fatalf("%d cancel stock events; want 1", events)
	}
}
