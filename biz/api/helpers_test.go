package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/cloudwego/hertz/pkg/common/ut"
	"github.com/cloudwego/hertz/pkg/route"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/learecordshop/recordshop/biz/api"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// The tokens of the test API. A second admin token proves rotation: either one is accepted.
const (
	adminToken      = "admin-secret"
	adminToken2     = "admin-rotated"
	storefrontToken = "storefront-secret"
)

// now is the API's clock in these tests: birth dates after it are in the future, and a disc created without
// sale_starts_at goes on sale at it.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// testAPI is one API over its own fresh database and Redis key prefix. Requests go through ut.PerformRequest,
// or over a real connection when base is set (see newServedAPI).
type testAPI struct {
	engine *route.Engine
	pool   *pgxpool.Pool
	redis  goredis.UniversalClient // the API's own client, which a test may close
	prefix string                  // the API's Redis key prefix
	base   string                  // "http://127.0.0.1:port" of a served API
}

// newAPI builds the whole API the way serve does, in the default (Redis) reservation mode; requests go
// through ut.PerformRequest.
func newAPI(t *testing.T) *testAPI {
	t.Helper()
	a, _ := build(t, serving{})
	return a
}

// newAPIMode is newAPI in the given reservation mode.
func newAPIMode(t *testing.T, mode string) *testAPI {
	t.Helper()
	a, _ := build(t, serving{mode: mode})
	return a
}

// newServedAPI is newAPI on a real listener. /metrics needs it: promhttp, through Hertz's net/http adaptor,
// writes its answer straight to the connection, which ut.PerformRequest does not have.
func newServedAPI(t *testing.T) *testAPI {
	t.Helper()
	return serve(t, serving{})
}

// servedWith is newServedAPI with more server options. With background it also runs the order writer, so
// that orders reach Postgres.
func servedWith(t *testing.T, background bool, opts ...config.Option) *testAPI {
	t.Helper()
	return serve(t, serving{background: background, opts: opts})
}

// serving is how a test wants its shop: the one harness every test of this package starts the shop with.
type serving struct {
	mode       string      // api.ModeRedis when empty
	background bool        // run the order writer (the stock relay always runs on a served shop)
	log        *zap.Logger // the API's logger (a test logger when nil)
	tune       func(*api.Deps)
	opts       []config.Option
}

// build builds the API over a fresh database and Redis key prefix the way serve does: the default test
// tokens, the fixed clock now and 4 partitions, then s.tune's changes.
func build(t *testing.T, s serving) (*testAPI, *api.API) {
	t.Helper()
	if s.log == nil {
		s.log = zaptest.NewLogger(t)
	}
	pool := testenv.PG(t)
	_, prefix := testenv.Redis(t)
	// A client of the API's own, so that a test can close it without breaking testenv's cleanup of the prefix.
	rdb := testenv.NewRedisClient(t)
	d := api.Deps{
		PG:         pool,
		Redis:      rdb,
		Tokens:     mw.NewTokens([]string{adminToken, adminToken2}, []string{storefrontToken}),
		Log:        s.log,
		Registry:   prometheus.NewRegistry(),
		Now:        func() time.Time { return now },
		Mode:       s.mode,
		Partitions: 4,
		Namespace:  prefix,
		RedisWait:  testenv.RedisWait(),
	}
	if s.tune != nil {
		s.tune(&d)
	}
	built, err := api.New(t.Context(), d, s.opts...)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	return &testAPI{engine: built.Server.Engine, pool: pool, redis: rdb, prefix: prefix}, built
}

// serve builds the shop as s asks and runs it on a real listener (api.Run, as the serve command does) until
// the test ends.
func serve(t *testing.T, s serving) *testAPI {
	t.Helper()
	ln := testenv.Listen(t)
	s.opts = append([]config.Option{server.WithListener(ln), server.WithExitWaitTime(time.Second)}, s.opts...)
	a, built := build(t, s)
	a.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- built.Run(ctx, s.background, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the shop stopped with an error: %v", err)
		}
	})
	return a
}

// request is one HTTP request to the API. The body is sent as is, as application/json unless contentType says
// otherwise or noContentType is set.
type request struct {
	method        string
	path          string
	token         string // sent as "Bearer <token>" unless empty
	auth          string // a raw Authorization header; wins over token
	contentType   string
	noContentType bool
	header        map[string]string // more headers
	body          []byte
}

// response is what the API answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (a *testAPI) do(t *testing.T, r request) response {
	t.Helper()
	var headers []ut.Header
	switch {
	case r.auth != "":
		headers = append(headers, ut.Header{Key: "Authorization", Value: r.auth})
	case r.token != "":
		headers = append(headers, ut.Header{Key: "Authorization", Value: "Bearer " + r.token})
	}
	ct := r.contentType
	if ct == "" && r.body != nil && !r.noContentType {
		ct = "application/json"
	}
	if ct != "" {
		headers = append(headers, ut.Header{Key: "Content-Type", Value: ct})
	}
	for k, v := range r.header {
		headers = append(headers, ut.Header{Key: k, Value: v})
	}
	if a.base != "" {
		return a.doHTTP(t, r, headers)
	}
	var body *ut.Body
	if r.body != nil {
		body = &ut.Body{Body: bytes.NewReader(r.body), Len: len(r.body)}
	}
	res := ut.PerformRequest(a.engine, r.method, r.path, body, headers...).Result()
	out := response{status: res.StatusCode(), header: http.Header{}, body: append([]byte(nil), res.Body()...)}
	res.Header.VisitAll(func(k, v []byte) { out.header.Add(string(k), string(v)) })
	return out
}

// doHTTP sends r over a real connection to a served API.
func (a *testAPI) doHTTP(t *testing.T, r request, headers []ut.Header) response {
	t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, a.base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header.Add(h.Key, h.Value)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// call sends v marshalled as the JSON body (no body when v is nil) with token.
func (a *testAPI) call(t *testing.T, method, path, token string, v any) response {
	t.Helper()
	r := request{method: method, path: path, token: token}
	if v != nil {
		r.body = mustJSON(t, v)
	}
	return a.do(t, r)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// mediaType is the response's Content-Type without parameters.
func (r response) mediaType() string {
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	return mt
}

// String shows a response in failure messages.
func (r response) String() string {
	return http.StatusText(r.status) + " " + r.header.Get("Content-Type") + " " + string(r.body)
}

// decode reads a JSON answer of want status into a T, failing the test otherwise. Unknown fields fail too:
// the API must not answer more than its types say (stock_version, say).
func decode[T any](t *testing.T, r response, want int) T {
	t.Helper()
	var v T
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r)
	}
	if mt := r.mediaType(); mt != "application/json" {
		t.Fatalf("Content-Type %q, want application/json: %s", mt, r)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r)
	}
	return v
}

// wantProblem checks that r is a problem+json answer of status and kind (the part of the type after its
// prefix) whose errors name exactly fields, in order (nil: no errors). It returns the problem.
func wantProblem(t *testing.T, r response, status int, kind string, fields []string) problem.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r)
	}
	if mt := r.mediaType(); mt != problem.ContentType {
		t.Fatalf("Content-Type %q, want %s: %s", mt, problem.ContentType, r)
	}
	var p problem.Problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem: %v: %s", err, r)
	}
	if p.Type != problem.TypePrefix+kind || p.Status != status || p.Title == "" || p.Instance == "" {
		t.Fatalf("problem type %q, status %d, title %q, instance %q; want type %q, status %d, a title and an instance: %s",
			p.Type, p.Status, p.Title, p.Instance, problem.TypePrefix+kind, status, r)
	}
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
		if f.Detail == "" {
			t.Errorf("field error %q has no detail: %s", f.Field, r)
		}
	}
	if diff := cmp.Diff(fields, got); diff != "" {
		t.Fatalf("fields of the problem's errors (-want +got):\n%s\n%s", diff, r)
	}
	return p
}

// obj is a JSON object body built by a test.
type obj map[string]any

// with returns a copy of o with key set to v.
func (o obj) with(key string, v any) obj {
	out := o.without()
	out[key] = v
	return out
}

// without returns a copy of o without keys.
func (o obj) without(keys ...string) obj {
	out := obj{}
	for k, v := range o {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// customerBody is a valid sign-up; distinct seeds give distinct documents and emails.
func customerBody(seed int64) obj {
	cpf := model.CPFFromSeed(seed)
	return obj{"document": cpf, "name": "Customer " + cpf, "email": "c" + cpf + "@example.com",
		"phone": "+55 11 91234-5678", "birth_date": "1990-05-17"}
}

// discBody is a valid new disc.
func discBody(name, artist string, year int, style string, stock int64) obj {
	return obj{"name": name, "artist": artist, "release_year": year, "style": style, "price_cents": 4990,
		"stock": stock, "per_customer_limit": 2}
}

func (a *testAPI) createCustomer(t *testing.T, body obj) model.Customer {
	t.Helper()
	return decode[model.Customer](t, a.call(t, http.MethodPost, "/v1/customers", storefrontToken, body), http.StatusCreated)
}

func (a *testAPI) createDisc(t *testing.T, body obj) model.Disc {
	t.Helper()
	return decode[model.Disc](t, a.call(t, http.MethodPost, "/v1/discs", adminToken, body), http.StatusCreated)
}

// insertOrder writes an order of quantity units into Postgres as the order writer does: the order row and the
// stock it takes, in one transaction.
func (a *testAPI) insertOrder(t *testing.T, customerID, discID, quantity int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, reserved_at)
		VALUES (gen_random_uuid(), $1, $2, $3, 4990, now())`, customerID, discID, quantity); err != nil {
		t.Fatalf("insert order: %v", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE discs SET stock = stock - $2 WHERE id = $1`, discID, quantity); err != nil {
		t.Fatalf("take the order's stock: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// assertLedger checks the ledger identity of DESIGN.md for every disc in the database:
// stock = sum(stock_events.delta) - sum(orders.quantity), and stock >= 0. It returns how many discs it
// checked, so that a caller can tell it did not pass on an empty table.
func (a *testAPI) assertLedger(t *testing.T) int {
	t.Helper()
	rows, err := a.pool.Query(context.Background(), `
		SELECT d.id, d.stock,
		       COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
		     - COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0)
		FROM discs d ORDER BY d.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, stock, ledger int64
		if err := rows.Scan(&id, &stock, &ledger); err != nil {
			t.Fatal(err)
		}
		n++
		if stock != ledger || stock < 0 {
			t.Errorf("disc %d: stock %d, but events minus orders make %d (they must be equal, and stock >= 0)", id, stock, ledger)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
