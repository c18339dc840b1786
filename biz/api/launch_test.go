package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/api/shoptest"
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
// Redis key prefix of its own: a shoptest.Shop with one replica, and the Redis under it.
type shop struct {
	*shoptest.Shop
	rdb    goredis.UniversalClient
	prefix string
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
	return &shop{Shop: shoptest.New(t, []string{a.base}, a.pool, shopAdmin, shopStorefront), rdb: a.redis, prefix: a.prefix}
}

// The storefront's requests, as the tests of this package spell them.
func (s *shop) call(t *testing.T, method, path, token string, body, out any, headers ...string) (int, http.Header) {
	t.Helper()
	return s.Call(t, method, path, token, body, out, headers...)
}

func (s *shop) createDisc(t *testing.T, stock int64, limit int, startsAt *string) model.Disc {
	t.Helper()
	return s.CreateDisc(t, stock, limit, startsAt)
}

func (s *shop) createCustomers(t *testing.T, n int) []int64 {
	t.Helper()
	return s.CreateCustomers(t, n)
}

func (s *shop) buy(t *testing.T, customer, disc int64, qty int, key string) (int, shoptest.Answer) {
	return s.Buy(t, customer, disc, qty, key)
}

func (s *shop) settle(t *testing.T, ids map[string]bool) {
	t.Helper()
	s.Settle(t, ids)
}

// The launch scenarios (shoptest) in each reservation mode, on the in-process shop; cmd/recordshop runs them
// on separate API and writer processes over Redis Cluster.
func TestLaunchSellsExactlyTheStock(t *testing.T) { inEachMode(t, shoptest.SellsExactlyTheStock) }
func TestLaunchPerCustomerLimit(t *testing.T)     { inEachMode(t, shoptest.PerCustomerLimit) }
func TestLaunchIdempotencyKeyMakesOneOrder(t *testing.T) {
	inEachMode(t, shoptest.IdempotencyKeyMakesOneOrder)
}
func TestOrderRefusals(t *testing.T)          { inEachMode(t, shoptest.OrderRefusals) }
func TestCancelReturnsUnitsOnce(t *testing.T) { inEachMode(t, shoptest.CancelReturnsUnitsOnce) }

func inEachMode(t *testing.T, scenario func(*testing.T, *shoptest.Shop)) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { scenario(t, startShop(t, mode).Shop) })
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
