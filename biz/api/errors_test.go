package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/learecordshop/recordshop/biz/handler"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/router"
)

// routes is the API's route table, read from the router so that a new route is covered here without an edit.
func routes(t *testing.T) []router.Route {
	t.Helper()
	h, err := handler.New(handler.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return router.Routes(h, nil)
}

// concrete fills every :param of a route path with value.
func concrete(path, value string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = value
		}
	}
	return strings.Join(parts, "/")
}

func TestAuthEveryRoute(t *testing.T) {
	t.Parallel()
	a := newServedAPI(t) // a real listener: /metrics is one of the routes
	roles := map[mw.Role]int{}
	for _, r := range routes(t) {
		roles[r.Role]++
		path := concrete(r.Path, "1")
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			passes := func(t *testing.T, res response) {
				t.Helper()
				if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden || res.status >= 500 {
					t.Fatalf("the request should pass auth and be answered: %s", res)
				}
			}
			if r.Role == mw.Public {
				passes(t, a.do(t, request{method: r.Method, path: path}))
				return
			}
			for _, tt := range []struct {
				name, auth, wwwAuth string
			}{
				{"no Authorization", "", `Bearer realm="recordshop"`},
				{"empty bearer token", "Bearer ", `Bearer realm="recordshop"`},
				{"other scheme", "Basic " + adminToken, `Bearer realm="recordshop"`},
				{"token without scheme", adminToken, `Bearer realm="recordshop"`},
				{"unknown token", "Bearer not-a-token", `Bearer realm="recordshop", error="invalid_token"`},
				{"admin token with a suffix", "Bearer " + adminToken + "x", `Bearer realm="recordshop", error="invalid_token"`},
			} {
				t.Run(tt.name, func(t *testing.T) {
					res := a.do(t, request{method: r.Method, path: path, auth: tt.auth})
					wantProblem(t, res, http.StatusUnauthorized, "unauthorized", nil)
					if got := res.header.Get("WWW-Authenticate"); got != tt.wwwAuth {
						t.Fatalf("WWW-Authenticate %q, want %q", got, tt.wwwAuth)
					}
				})
			}
			t.Run("storefront token", func(t *testing.T) {
				res := a.do(t, request{method: r.Method, path: path, token: storefrontToken})
				if r.Role == mw.Admin {
					wantProblem(t, res, http.StatusForbidden, "forbidden", nil)
					return
				}
				passes(t, res)
			})
			for _, token := range []string{adminToken, adminToken2} {
				t.Run("admin token "+token, func(t *testing.T) {
					passes(t, a.do(t, request{method: r.Method, path: path, token: token}))
				})
			}
		})
	}
	// Guard against a route table this test no longer understands (all public, say).
	for _, role := range []mw.Role{mw.Public, mw.Storefront, mw.Admin} {
		if roles[role] == 0 {
			t.Errorf("no route of role %q; the checks above would prove nothing for it", role)
		}
	}
}

// TestPathIDs: a path id is a canonical positive decimal and an order id the canonical hyphenated UUID; every
// other spelling is 400 invalid-path on every route with an :id, and an id that names nothing is 404.
func TestPathIDs(t *testing.T) {
	t.Parallel()
	a := newAPI(t) // empty: an id wrongly read as 1 finds nothing to change
	const order = "0190b7a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
	type id struct{ name, wire string }
	invalid := []id{{"abc", "abc"}, {"0", "0"}, {"-1", "-1"}, {"1.5", "1.5"}, {"1e3", "1e3"}, {"space", "%20"}, {"20 digits", "99999999999999999999"}}
	numeric := append(slices.Clone(invalid),
		id{"01", "01"}, id{"+1", "+1"}, id{"leading space", "%201"}, id{"trailing space", "1%20"}, id{"0x10", "0x10"},
		id{"2^63", "9223372036854775808"}, id{"NUL", "%00"},
		id{"1 then NUL", "1%00"}, id{"fullwidth 1", "%EF%BC%91"})
	orderIDs := append(slices.Clone(invalid),
		id{"braced UUID", "%7B" + order + "%7D"}, id{"URN UUID", "urn:uuid:" + order},
		id{"32 hex digits", strings.ReplaceAll(order, "-", "")}, id{"UUID with a space", order + "%20"},
		id{"UUID then NUL", order + "%00"}, id{"number", "1"})
	// A body each route that takes one accepts, so that an unknown id gets as far as the lookup.
	bodies := map[string]obj{
		"PATCH /v1/customers/:id":    {"name": "Ana"},
		"PATCH /v1/discs/:id":        {"price_cents": 100},
		"POST /v1/discs/:id/restock": {"delta": 1},
	}
	n := 0
	for _, r := range routes(t) {
		if !strings.Contains(r.Path, ":id") {
			continue
		}
		n++
		ids, unknown := numeric, "987654"
		if strings.HasPrefix(r.Path, "/v1/orders/") { // orders are named by UUID
			ids, unknown = orderIDs, order
		}
		body := bodies[r.Method+" "+r.Path]
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			for _, tt := range ids {
				t.Run(tt.name, func(t *testing.T) {
					res := a.call(t, r.Method, concrete(r.Path, tt.wire), adminToken, body)
					wantProblem(t, res, http.StatusBadRequest, "invalid-path", []string{"id"})
				})
			}
			t.Run("unknown id", func(t *testing.T) {
				res := a.call(t, r.Method, concrete(r.Path, unknown), adminToken, body)
				wantProblem(t, res, http.StatusNotFound, "not-found", nil)
			})
		})
	}
	if n < 11 {
		t.Errorf("only %d routes with :id; want the customer, disc and order ones", n)
	}
}

// noContentType in a table's content type column sends the request without the header.
const noContentType = "(none)"

func TestBodyErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cu := a.createCustomer(t, customerBody(1))
	d := a.createDisc(t, discBody("Kind", "Davis", 1959, "Jazz", 10))
	targets := []struct {
		name, method, path, token string
		valid                     []byte // a body the endpoint accepts
	}{
		{"create customer", http.MethodPost, "/v1/customers", storefrontToken, mustJSON(t, customerBody(2))},
		{"patch customer", http.MethodPatch, fmt.Sprintf("/v1/customers/%d", cu.ID), storefrontToken, []byte(`{"name":"Bia"}`)},
		{"create disc", http.MethodPost, "/v1/discs", adminToken, mustJSON(t, discBody("Blue", "Davis", 1959, "Jazz", 1))},
		{"patch disc", http.MethodPatch, fmt.Sprintf("/v1/discs/%d", d.ID), adminToken, []byte(`{"price_cents":100}`)},
		{"restock", http.MethodPost, fmt.Sprintf("/v1/discs/%d/restock", d.ID), adminToken, []byte(`{"delta":1}`)},
	}
	oversized := append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), handler.MaxBodyBytes)...)
	oversized = append(oversized, `"}`...)
	generic := []struct {
		name        string
		contentType string
		body        []byte // nil: the target's valid body, refused for its media type alone
		status      int
		kind        string
		fields      []string
	}{
		{"unterminated JSON", "", []byte(`{"name":`), 400, "malformed-json", nil},
		{"unquoted key", "", []byte(`{name: "x"}`), 400, "malformed-json", nil},
		{"single quotes", "", []byte(`{'name': 'x'}`), 400, "malformed-json", nil},
		{"empty body", "", []byte{}, 400, "malformed-json", nil},
		{"whitespace body", "", []byte(" \n\t "), 400, "malformed-json", nil},
		{"second object after the first", "", []byte(`{} {}`), 400, "malformed-json", nil},
		{"garbage after the object", "", []byte(`{}x`), 400, "malformed-json", nil},
		{"array body", "", []byte(`[{"name":"x"}]`), 422, "validation", []string{""}},
		{"string body", "", []byte(`"name"`), 422, "validation", []string{""}},
		{"number body", "", []byte(`42`), 422, "validation", []string{""}},
		{"unknown field", "", []byte(`{"colour":"red"}`), 422, "validation", []string{"colour"}},
		{"field name in another case", "", []byte(`{"NAME":"x"}`), 422, "validation", []string{"NAME"}},
		{"body over 64 KiB", "", oversized, 413, "body-too-large", nil},
		{"text/plain", "text/plain", nil, 415, "unsupported-media-type", nil},
		{"form", "application/x-www-form-urlencoded", nil, 415, "unsupported-media-type", nil},
		{"xml", "application/xml", nil, 415, "unsupported-media-type", nil},
		{"unparsable content type", "application/json;;", nil, 415, "unsupported-media-type", nil},
		{"multipart form", "multipart/form-data; boundary=x", nil, 415, "unsupported-media-type", nil},
		{"no content type", noContentType, nil, 415, "unsupported-media-type", nil},
	}
	for _, target := range targets {
		t.Run(target.name, func(t *testing.T) {
			for _, tt := range generic {
				t.Run(tt.name, func(t *testing.T) {
					body := tt.body
					if body == nil {
						body = target.valid
					}
					r := request{method: target.method, path: target.path, token: target.token, contentType: tt.contentType, body: body}
					if tt.contentType == noContentType {
						r.contentType, r.noContentType = "", true
					}
					wantProblem(t, a.do(t, r), tt.status, tt.kind, tt.fields)
				})
			}
		})
	}

	// Wrong JSON types, each naming its field.
	typed := []struct {
		target int // index into targets
		body   string
		field  string
	}{
		{0, `{"document": 52998224725}`, "document"},
		{0, `{"name": true}`, "name"},
		{0, `{"birth_date": ["1990-05-17"]}`, "birth_date"},
		{1, `{"email": 5}`, "email"},
		{1, `{"phone": {"number": "11912345678"}}`, "phone"},
		{2, `{"release_year": "1959"}`, "release_year"},
		{2, `{"release_year": 1959.5}`, "release_year"},
		{2, `{"stock": 1e30}`, "stock"},
		{2, `{"stock": "10"}`, "stock"},
		{2, `{"price_cents": 9223372036854775808}`, "price_cents"},
		{2, `{"per_customer_limit": 9223372036854775808}`, "per_customer_limit"},
		{2, `{"name": 5}`, "name"},
		{2, `{"sale_starts_at": 1764590400}`, "sale_starts_at"},
		{3, `{"stock": true}`, "stock"},
		{3, `{"release_year": 1e30}`, "release_year"},
		{4, `{"delta": "5"}`, "delta"},
		{4, `{"delta": 1e30}`, "delta"},
		{4, `{"delta": 2.5}`, "delta"},
	}
	for _, tt := range typed {
		target := targets[tt.target]
		t.Run(target.name+" "+tt.body, func(t *testing.T) {
			res := a.do(t, request{method: target.method, path: target.path, token: target.token, body: []byte(tt.body)})
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{tt.field})
		})
	}

	// What the strict decoder must still let through.
	padded := func(valid []byte, size int) []byte {
		return append(slices.Clip(valid), bytes.Repeat([]byte(" "), size-len(valid))...)
	}
	accepted := []struct {
		name          string
		target        int
		contentType   string
		noContentType bool
		body          []byte
		status        int
	}{
		{"charset parameter", 0, "application/json; charset=utf-8", false, mustJSON(t, customerBody(3)), 201},
		{"+json media type", 1, "application/merge-patch+json", false, []byte(`{"name":"Bia"}`), 200},
		{"exactly 64 KiB", 2, "", false, padded(mustJSON(t, discBody("Padded", "Davis", 1959, "Jazz", 1)), handler.MaxBodyBytes), 201},
	}
	for _, tt := range accepted {
		target := targets[tt.target]
		t.Run("accepts "+tt.name, func(t *testing.T) {
			res := a.do(t, request{method: target.method, path: target.path, token: target.token,
				contentType: tt.contentType, noContentType: tt.noContentType, body: tt.body})
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res)
			}
		})
	}
	if n := a.assertLedger(t); n != 2 {
		t.Errorf("ledger checked %d discs, want 2", n)
	}
}

func TestListQueryErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for i, name := range []string{"alpha", "bravo", "charlie"} {
		a.createDisc(t, discBody(name, "Artist", 1990+i, "Rock", 1))
		a.createCustomer(t, customerBody(int64(100+i)))
	}
	nameCursor := decode[model.List[model.Disc]](t, a.call(t, http.MethodGet, "/v1/discs?sort=name&limit=1", "", nil), http.StatusOK).NextCursor
	customerCursor := decode[model.List[model.Customer]](t, a.call(t, http.MethodGet, "/v1/customers?limit=1", adminToken, nil), http.StatusOK).NextCursor
	if nameCursor == "" || customerCursor == "" {
		t.Fatalf("no next_cursor on a first page of one of three: discs %q, customers %q", nameCursor, customerCursor)
	}
	// The cursors work where they belong, so the refusals below are about where they are used.
	for _, path := range []string{"/v1/discs?sort=name&limit=1&cursor=" + nameCursor, "/v1/customers?limit=1&cursor=" + customerCursor} {
		if res := a.call(t, http.MethodGet, path, adminToken, nil); res.status != http.StatusOK {
			t.Fatalf("GET %s: %s", path, res)
		}
	}
	tests := []struct {
		list   string
		query  string
		fields []string
	}{
		{"customers", "sort=name", []string{"sort"}},
		{"customers", "nme=ana", []string{"nme"}},
		{"customers", "limit=0", []string{"limit"}},
		{"customers", "limit=101", []string{"limit"}},
		{"customers", "limit=-1", []string{"limit"}},
		{"customers", "limit=ten", []string{"limit"}},
		{"customers", "cursor=garbage", []string{"cursor"}},
		{"customers", "cursor=" + nameCursor, []string{"cursor"}},
		{"customers", "cursor=" + model.NewCursorCodec([]byte("another shop's key, long enough")).Encode(model.Cursor{Sort: "id", ID: 1}), []string{"cursor"}},
		{"customers", "active=maybe", []string{"active"}},
		{"customers", "document=123", []string{"document"}},
		{"customers", "name=a&name=b", []string{"name"}},
		{"customers", "name=" + strings.Repeat("x", 201), []string{"name"}},
		{"customers", "active=maybe&limit=0", []string{"active", "limit"}},
		{"discs", "artst=davis", []string{"artst"}},
		{"discs", "page=2", []string{"page"}},
		{"discs", "limit=0", []string{"limit"}},
		{"discs", "limit=101", []string{"limit"}},
		{"discs", "limit=1.5", []string{"limit"}},
		{"discs", "cursor=garbage", []string{"cursor"}},
		{"discs", "cursor=" + customerCursor, []string{"cursor"}},
		{"discs", "sort=-name&cursor=" + nameCursor, []string{"cursor"}},
		{"discs", "sort=artist&cursor=" + nameCursor, []string{"cursor"}},
		{"discs", "cursor=" + nameCursor, []string{"cursor"}}, // the default sort is created_at
		{"discs", "year_from=2000&year_to=1990", []string{"year_from"}},
		{"discs", "year=2000&year_from=1990", []string{"year"}},
		{"discs", "year=abc", []string{"year"}},
		{"discs", "year=1500", []string{"year"}},
		{"discs", "year_to=2101", []string{"year_to"}},
		{"discs", "in_stock=maybe", []string{"in_stock"}},
		{"discs", "archived=yes", []string{"archived"}},
		{"discs", "sort=price", []string{"sort"}},
		{"discs", "sort=-", []string{"sort"}},
		{"discs", "sort=--name", []string{"sort"}},
		{"discs", "sort=name&sort=artist", []string{"sort"}},
		{"discs", "style=" + strings.Repeat("x", 201), []string{"style"}},
	}
	for _, tt := range tests {
		t.Run(tt.list+" "+tt.query, func(t *testing.T) {
			res := a.call(t, http.MethodGet, "/v1/"+tt.list+"?"+tt.query, adminToken, nil)
			p := wantProblem(t, res, http.StatusBadRequest, "invalid-query", tt.fields)
			if p.Instance != "/v1/"+tt.list {
				t.Errorf("instance %q, want /v1/%s", p.Instance, tt.list)
			}
		})
	}
}
