package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/common/ut"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// BenchmarkPlaceOrder measures POST /v1/orders through the whole Hertz engine, in process (no socket): the
// middleware, the handler's bind and validation, the order service and one reserve.lua call on a real Redis.
// Every iteration buys one unit of a disc with more stock than any run takes. The writer does not run, so
// Postgres is not in the measure (the backlog bound is off).
func BenchmarkPlaceOrder(b *testing.B) {
	post, order := benchShop(b, 10_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if status, body := post("/v1/orders", storefrontToken, order); status != http.StatusCreated {
			b.Fatalf("order: %d %s", status, body)
		}
	}
}

// BenchmarkSoldOut measures the answer most requests of a launch get: POST /v1/orders of a disc that sold out,
// refused from the process' sold-out mark (no Redis round trip) with a 409 problem+json, through the whole
// Hertz engine in process (no socket).
func BenchmarkSoldOut(b *testing.B) {
	post, order := benchShop(b, 1)
	if status, body := post("/v1/orders", storefrontToken, order); status != http.StatusCreated {
		b.Fatalf("the one unit: %d %s", status, body)
	}
	if status, body := post("/v1/orders", storefrontToken, order); status != http.StatusConflict {
		b.Fatalf("after the last unit: %d %s", status, body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if status, body := post("/v1/orders", storefrontToken, order); status != http.StatusConflict {
			b.Fatalf("order of a sold-out disc: %d %s", status, body)
		}
	}
}

// benchShop is a shop on the test stores with one customer and one disc of stock units, and a POST through
// its engine; order is the body of an order of one unit of that disc by that customer.
func benchShop(b *testing.B, stock int) (post func(path, token, body string) (int, string), order string) {
	b.Helper()
	pool := testenv.PG(b)
	_, prefix := testenv.Redis(b)
	shop, err := api.New(context.Background(), api.Deps{
		PG: pool, Redis: testenv.NewRedisClient(b), Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Tokens:     mw.NewTokens([]string{adminToken}, []string{storefrontToken}),
		Now:        time.Now,
		Partitions: 4, Namespace: prefix, RedisWait: testenv.RedisWait(),
	})
	if err != nil {
		b.Fatal(err)
	}
	engine := shop.Server.Engine
	post = func(path, token, body string) (int, string) {
		res := ut.PerformRequest(engine, http.MethodPost, path, &ut.Body{Body: strings.NewReader(body), Len: len(body)},
			ut.Header{Key: "Authorization", Value: "Bearer " + token}, ut.Header{Key: "Content-Type", Value: "application/json"}).Result()
		return res.StatusCode(), string(res.Body())
	}
	disc := `{"name":"Bench","artist":"Bench","release_year":2022,"style":"Indie","price_cents":100,"stock":` + strconv.Itoa(stock) + `}`
	if status, body := post("/v1/discs", adminToken, disc); status != http.StatusCreated {
		b.Fatalf("create disc: %d %s", status, body)
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO customers (document, name, email, birth_date)
		VALUES ('52998224725', 'Bench Buyer', 'bench@example.com', '1990-01-01')`); err != nil {
		b.Fatal(err)
	}
	var discID, customerID int64
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT max(id) FROM discs), (SELECT max(id) FROM customers)`).Scan(&discID, &customerID); err != nil {
		b.Fatal(err)
	}
	return post, `{"customer_id":` + strconv.FormatInt(customerID, 10) + `,"disc_id":` + strconv.FormatInt(discID, 10) + `,"quantity":1}`
}
