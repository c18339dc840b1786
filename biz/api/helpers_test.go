package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/common/ut"
	"github.com/cloudwego/hertz/pkg/route"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/learecordshop/recordshop/biz/api"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/problem"
	"github.com/learecordshop/recordshop/dal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// The tokens of the test API. A second token per role proves rotation: either one is accepted.
const (
	adminToken      = "admin-secret"
	adminToken2     = "admin-rotated"
	storefrontToken = "storefront-secret"
)

// now is the API's clock in these tests: birth dates after it are in the future, and a disc created without
// sale_starts_at goes on sale at it.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// testAPI is one API over its own fresh database and Redis prefix.
type testAPI struct {
	engine *route.Engine
	pool   *pgxpool.Pool
}

// newAPI builds the whole API the way serve does, over a database that belongs to this test alone.
func newAPI(t *testing.T) *testAPI {
	t.Helper()
	pool := testenv.PG(t)
	rdb, _ := testenv.Redis(t) // the API only pings Redis for now, so it writes no key to keep under the prefix
	srv, err := api.New(api.Deps{
		PG:       pool,
		Redis:    rdb,
		Tokens:   mw.NewTokens([]string{adminToken, adminToken2}, []string{storefrontToken}),
		Log:      zaptest.NewLogger(t),
		Registry: prometheus.NewRegistry(),
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	return &testAPI{engine: srv.Engine, pool: pool}
}

// request is one HTTP request to the API. Body is sent as is; contentType defaults to application/json when
// there is a body.
type request struct {
	method      string
	path        string
	token       string // sent as "Bearer <token>" unless empty
	auth        string // a raw Authorization header; wins over token
	contentType string
	body        []byte
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
	if ct == "" && r.body != nil {
		ct = "application/json"
	}
	if ct != "" {
		headers = append(headers, ut.Header{Key: "Content-Type", Value: ct})
	}
	var body *ut.Body
	if r.body != nil {
		body = &ut.Body{Body: bytes.NewReader(r.body), Len: len(r.body)}
	}
	rec := ut.PerformRequest(a.engine, r.method, r.path, body, headers...)
	res := rec.Result()
	out := response{status: res.StatusCode(), header: http.Header{}, body: append([]byte(nil), res.Body()...)}
	res.Header.VisitAll(func(k, v []byte) { out.header.Add(string(k), string(v)) })
	return out
}

// call sends v marshalled as the JSON body (no body when v is nil) with token.
func (a *testAPI) call(t *testing.T, method, path, token string, v any) response {
	t.Helper()
	r := request{method: method, path: path, token: token}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal request body: %v", err)
		}
		r.body = b
	}
	return a.do(t, r)
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

// decode reads a successful JSON answer of want status into a T, failing the test otherwise.
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

// wantProblem checks that r is a problem+json answer of status and kind (the part after the type prefix) whose
// errors name exactly fields, in order; nil fields means the problem has no errors. It returns the problem.
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
	if p.Type != problem.TypePrefix+kind || p.Status != status || p.Title == "" {
		t.Fatalf("problem type %q status %d title %q; want type %q status %d and a title: %s",
			p.Type, p.Status, p.Title, problem.TypePrefix+kind, status, r)
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

// obj is a JSON object body built in a test; with and without derive variants of it.
type obj map[string]any

func (o obj) with(key string, v any) obj {
	out := o.without()
	out[key] = v
	return out
}

func (o obj) without(keys ...string) obj {
	out := obj{}
	for k, v := range o {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// customerBody is a valid sign-up; seed makes its document and email distinct from other seeds'.
func customerBody(seed int64) obj {
	return obj{
		"document":   model.CPFFromSeed(seed),
		"name":       "Customer " + model.CPFFromSeed(seed),
		"email":      "c" + model.CPFFromSeed(seed) + "@example.com",
		"phone":      "+55 11 91234-5678",
		"birth_date": "1990-05-17",
	}
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

// placeOrder writes an order for quantity units the way the order writer does: the order row and the stock it
// takes, in one transaction.
func (a *testAPI) placeOrder(t *testing.T, customerID, discID, quantity int64) {
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

// assertLedger checks the ledger identity of DESIGN.md for every disc left in the database:
// stock = sum(stock_events.delta) - sum(orders.quantity), and stock >= 0. It reports how many discs it checked,
// so a caller can tell the check did not pass on an empty table.
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
			t.Errorf("disc %d: stock %d, but events minus orders make %d (stock must equal it and be >= 0)", id, stock, ledger)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
