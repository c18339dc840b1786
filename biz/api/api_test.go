package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/learecordshop/recordshop/biz/api"
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

func TestPathIDs(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
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
		body := bodies[r.Method+" "+r.Path]
		unknown := "987654"
		if strings.HasPrefix(r.Path, "/v1/orders/") { // orders are named by UUID
			unknown = "0190b7a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			for _, id := range []string{"abc", "0", "-1", "1.5", "1e3", "99999999999999999999", "%20"} {
				t.Run("id "+id, func(t *testing.T) {
					res := a.call(t, r.Method, concrete(r.Path, id), adminToken, body)
					wantProblem(t, res, http.StatusBadRequest, "invalid-path", []string{"id"})
				})
			}
			t.Run("unknown id", func(t *testing.T) {
				res := a.call(t, r.Method, concrete(r.Path, unknown), adminToken, body)
				wantProblem(t, res, http.StatusNotFound, "not-found", nil)
			})
		})
	}
	if n < 9 {
		t.Errorf("only %d routes with :id; want at least the 5 customer and 4 disc routes", n)
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

func TestCustomerValidation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	valid := customerBody(10)
	create := []struct {
		name   string
		body   obj
		fields []string
	}{
		{"document missing", valid.without("document"), []string{"document"}},
		{"document empty", valid.with("document", ""), []string{"document"}},
		{"CPF first check digit", valid.with("document", "529.982.247-15"), []string{"document"}},
		{"CPF second check digit", valid.with("document", "529.982.247-24"), []string{"document"}},
		{"CPF repeated digits", valid.with("document", "111.111.111-11"), []string{"document"}},
		{"CPF all zeros", valid.with("document", "00000000000"), []string{"document"}},
		{"CPF of ten digits", valid.with("document", "5299822472"), []string{"document"}},
		{"CPF of twelve digits", valid.with("document", "529982247255"), []string{"document"}},
		{"CPF with a letter", valid.with("document", "52998224a25"), []string{"document"}},
		{"CPF with a slash", valid.with("document", "529.982.247/25"), []string{"document"}},
		{"name missing", valid.without("name"), []string{"name"}},
		{"name blank", valid.with("name", "   "), []string{"name"}},
		{"name of 201 characters", valid.with("name", strings.Repeat("á", 201)), []string{"name"}},
		{"name with a NUL", valid.with("name", "Ana\x00Silva"), []string{"name"}},
		{"name with a newline", valid.with("name", "Ana\nSilva"), []string{"name"}},
		{"email missing", valid.without("email"), []string{"email"}},
		{"email without @", valid.with("email", "ana.example.com"), []string{"email"}},
		{"email with a display name", valid.with("email", "Ana <ana@example.com>"), []string{"email"}},
		{"email without a dot in the domain", valid.with("email", "ana@localhost"), []string{"email"}},
		{"email with two @", valid.with("email", "ana@b@example.com"), []string{"email"}},
		{"email with a space inside", valid.with("email", "ana silva@example.com"), []string{"email"}},
		{"email with nothing before @", valid.with("email", "@example.com"), []string{"email"}},
		{"email over 254 characters", valid.with("email", strings.Repeat("a", 243)+"@example.com"), []string{"email"}},
		{"phone with letters", valid.with("phone", "call me"), []string{"phone"}},
		{"phone of 7 digits", valid.with("phone", "1234567"), []string{"phone"}},
		{"phone of 16 digits", valid.with("phone", "+1234567890123456"), []string{"phone"}},
		{"phone with + inside", valid.with("phone", "11+912345678"), []string{"phone"}},
		{"birth date missing", valid.without("birth_date"), []string{"birth_date"}},
		{"birth date as DD/MM/YYYY", valid.with("birth_date", "17/05/1990"), []string{"birth_date"}},
		{"birth date with a time", valid.with("birth_date", "1990-05-17T00:00:00Z"), []string{"birth_date"}},
		{"birth date that does not exist", valid.with("birth_date", "1990-02-30"), []string{"birth_date"}},
		{"birth date tomorrow", valid.with("birth_date", now.AddDate(0, 0, 1).Format(time.DateOnly)), []string{"birth_date"}},
		{"birth date before 1900", valid.with("birth_date", "1899-12-31"), []string{"birth_date"}},
		{"every required field missing", obj{}, []string{"document", "name", "email", "birth_date"}},
	}
	for _, tt := range create {
		t.Run("create "+tt.name, func(t *testing.T) {
			res := a.call(t, http.MethodPost, "/v1/customers", storefrontToken, tt.body)
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", tt.fields)
		})
	}
	// The limits themselves pass, so each row above fails on its own rule alone.
	accepted := []struct {
		name string
		body obj
	}{
		{"the base body", valid},
		{"no phone", customerBody(11).without("phone")},
		{"name of 200 characters", customerBody(12).with("name", strings.Repeat("á", 200))},
		{"born today", customerBody(13).with("birth_date", now.Format(time.DateOnly))},
		{"born 1900-01-01", customerBody(14).with("birth_date", "1900-01-01")},
		{"phone of 8 digits", customerBody(15).with("phone", "12345678")},
		{"phone of 15 digits", customerBody(16).with("phone", "+123456789012345")},
	}
	for _, tt := range accepted {
		t.Run("create accepts "+tt.name, func(t *testing.T) {
			a.createCustomer(t, tt.body)
		})
	}

	cu := a.createCustomer(t, customerBody(20))
	path := fmt.Sprintf("/v1/customers/%d", cu.ID)
	patch := []struct {
		name   string
		body   obj
		fields []string
	}{
		{"empty patch", obj{}, []string{""}},
		{"a null field (a patch cannot remove a field)", obj{"name": nil}, []string{"name"}},
		{"blank name", obj{"name": " "}, []string{"name"}},
		{"name of 201 characters", obj{"name": strings.Repeat("x", 201)}, []string{"name"}},
		{"blank email", obj{"email": ""}, []string{"email"}},
		{"bad email", obj{"email": "nope"}, []string{"email"}},
		{"bad phone", obj{"phone": "12"}, []string{"phone"}},
		{"bad birth date", obj{"birth_date": "yesterday"}, []string{"birth_date"}},
		{"future birth date", obj{"birth_date": "2030-01-01"}, []string{"birth_date"}},
		{"document cannot change", obj{"document": "52998224725"}, []string{"document"}},
		{"active changes through deactivate", obj{"active": false}, []string{"active"}},
		{"two bad fields", obj{"name": "", "email": "x"}, []string{"name", "email"}},
	}
	for _, tt := range patch {
		t.Run("patch "+tt.name, func(t *testing.T) {
			res := a.call(t, http.MethodPatch, path, storefrontToken, tt.body)
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", tt.fields)
		})
	}
	got := decode[model.Customer](t, a.call(t, http.MethodGet, path, storefrontToken, nil), http.StatusOK)
	if diff := cmp.Diff(cu, got); diff != "" {
		t.Errorf("refused patches changed the customer (-before +after):\n%s", diff)
	}
}

func TestDiscValidation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	valid := discBody("Kind of Blue", "Miles Davis", 1959, "Jazz", 100)
	create := []struct {
		name   string
		body   obj
		fields []string
	}{
		{"name missing", valid.without("name"), []string{"name"}},
		{"name blank", valid.with("name", " "), []string{"name"}},
		{"name of 201 characters", valid.with("name", strings.Repeat("n", 201)), []string{"name"}},
		{"artist missing", valid.without("artist"), []string{"artist"}},
		{"artist with a tab", valid.with("artist", "Miles\tDavis"), []string{"artist"}},
		{"style missing", valid.without("style"), []string{"style"}},
		{"style of 61 characters", valid.with("style", strings.Repeat("s", 61)), []string{"style"}},
		{"release year missing", valid.without("release_year"), []string{"release_year"}},
		{"release year 1859", valid.with("release_year", model.MinReleaseYear-1), []string{"release_year"}},
		{"release year 2101", valid.with("release_year", model.MaxReleaseYear+1), []string{"release_year"}},
		{"release year negative", valid.with("release_year", -1959), []string{"release_year"}},
		{"price missing", valid.without("price_cents"), []string{"price_cents"}},
		{"price negative", valid.with("price_cents", -1), []string{"price_cents"}},
		{"price over the maximum", valid.with("price_cents", model.MaxPriceCents+1), []string{"price_cents"}},
		{"stock negative", valid.with("stock", -1), []string{"stock"}},
		{"stock over the maximum", valid.with("stock", model.MaxStock+1), []string{"stock"}},
		{"per-customer limit negative", valid.with("per_customer_limit", -1), []string{"per_customer_limit"}},
		{"per-customer limit over the maximum", valid.with("per_customer_limit", model.MaxCustomerLimit+1), []string{"per_customer_limit"}},
		{"sale start in words", valid.with("sale_starts_at", "tomorrow"), []string{"sale_starts_at"}},
		{"sale start as a date", valid.with("sale_starts_at", "2026-12-01"), []string{"sale_starts_at"}},
		{"sale start without a zone", valid.with("sale_starts_at", "2026-12-01T12:00:00"), []string{"sale_starts_at"}},
		{"sale start in month 13", valid.with("sale_starts_at", "2026-13-01T12:00:00Z"), []string{"sale_starts_at"}},
		{"everything missing", obj{}, []string{"name", "artist", "style", "release_year", "price_cents"}},
	}
	for _, tt := range create {
		t.Run("create "+tt.name, func(t *testing.T) {
			res := a.call(t, http.MethodPost, "/v1/discs", adminToken, tt.body)
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", tt.fields)
		})
	}
	accepted := []struct {
		name string
		body obj
	}{
		{"the base body", valid},
		{"release year 1860", valid.with("release_year", model.MinReleaseYear)},
		{"release year 2100", valid.with("release_year", model.MaxReleaseYear)},
		{"a free disc", valid.with("price_cents", 0)},
		{"the maximum price", valid.with("price_cents", model.MaxPriceCents)},
		{"no stock", valid.with("stock", 0)},
		{"the maximum stock", valid.with("stock", model.MaxStock)},
		{"no per-customer limit", valid.without("per_customer_limit")},
		{"the maximum per-customer limit", valid.with("per_customer_limit", model.MaxCustomerLimit)},
		{"style of 60 characters", valid.with("style", strings.Repeat("s", 60))},
		{"sale start with an offset", valid.with("sale_starts_at", "2026-12-01T12:00:00-03:00")},
	}
	for _, tt := range accepted {
		t.Run("create accepts "+tt.name, func(t *testing.T) {
			a.createDisc(t, tt.body)
		})
	}

	d := a.createDisc(t, valid)
	path := fmt.Sprintf("/v1/discs/%d", d.ID)
	patch := []struct {
		name   string
		body   obj
		fields []string
	}{
		{"empty patch", obj{}, []string{""}},
		{"blank name", obj{"name": ""}, []string{"name"}},
		{"blank artist", obj{"artist": " "}, []string{"artist"}},
		{"style of 61 characters", obj{"style": strings.Repeat("s", 61)}, []string{"style"}},
		{"release year 1859", obj{"release_year": model.MinReleaseYear - 1}, []string{"release_year"}},
		{"release year 0", obj{"release_year": 0}, []string{"release_year"}},
		{"price negative", obj{"price_cents": -1}, []string{"price_cents"}},
		{"stock negative", obj{"stock": -5}, []string{"stock"}},
		{"stock over the maximum", obj{"stock": model.MaxStock + 1}, []string{"stock"}},
		{"per-customer limit negative", obj{"per_customer_limit": -1}, []string{"per_customer_limit"}},
		{"sale start not RFC 3339", obj{"sale_starts_at": "2026-13-01T00:00:00Z"}, []string{"sale_starts_at"}},
		{"archived is not a field", obj{"archived": true}, []string{"archived"}},
		{"available is not a field", obj{"available": 5}, []string{"available"}},
	}
	for _, tt := range patch {
		t.Run("patch "+tt.name, func(t *testing.T) {
			res := a.call(t, http.MethodPatch, path, adminToken, tt.body)
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", tt.fields)
		})
	}
	restock := []struct {
		name string
		body obj
	}{
		{"delta 0", obj{"delta": 0}},
		{"delta missing", obj{}},
		{"delta null", obj{"delta": nil}},
		{"delta over the maximum", obj{"delta": model.MaxStock + 1}},
		{"delta under the minimum", obj{"delta": -model.MaxStock - 1}},
	}
	for _, tt := range restock {
		t.Run("restock "+tt.name, func(t *testing.T) {
			res := a.call(t, http.MethodPost, path+"/restock", adminToken, tt.body)
			wantProblem(t, res, http.StatusUnprocessableEntity, "validation", []string{"delta"})
		})
	}
	got := decode[model.Disc](t, a.call(t, http.MethodGet, path, "", nil), http.StatusOK)
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("refused changes changed the disc (-before +after):\n%s", diff)
	}
	if n := a.assertLedger(t); n != len(accepted)+1 {
		t.Errorf("ledger checked %d discs, want %d", n, len(accepted)+1)
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

// apiModes are the reservation modes; catalog and customers must behave the same in both.
var apiModes = []string{api.ModeRedis, api.ModePostgres}

func TestCustomerLifecycle(t *testing.T) {
	t.Parallel()
	for _, mode := range apiModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testCustomerLifecycle(t, newAPIMode(t, mode))
		})
	}
}

func testCustomerLifecycle(t *testing.T, a *testAPI) {
	res := a.call(t, http.MethodPost, "/v1/customers", storefrontToken, obj{
		"document": "529.982.247-25", "name": "  Ana Silva ", "email": " Ana.Silva@Example.COM ",
		"phone": "+55 (11) 91234-5678", "birth_date": "1990-05-17",
	})
	created := decode[model.Customer](t, res, http.StatusCreated)
	want := model.Customer{Document: "52998224725", Name: "Ana Silva", Email: "ana.silva@example.com",
		Phone: "+5511912345678", BirthDate: "1990-05-17", Active: true}
	if diff := cmp.Diff(want, created, cmpopts.IgnoreFields(model.Customer{}, "ID", "CreatedAt", "UpdatedAt")); diff != "" {
		t.Errorf("created customer (-want +got):\n%s", diff)
	}
	if created.ID <= 0 || created.CreatedAt.IsZero() || !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Errorf("created customer: id %d, created_at %v, updated_at %v", created.ID, created.CreatedAt, created.UpdatedAt)
	}
	loc := res.header.Get("Location")
	if want := "/v1/customers/" + strconv.FormatInt(created.ID, 10); loc != want {
		t.Fatalf("Location %q, want %q", loc, want)
	}
	got := decode[model.Customer](t, a.call(t, http.MethodGet, loc, storefrontToken, nil), http.StatusOK)
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GET Location (-created +got):\n%s", diff)
	}

	other := a.createCustomer(t, customerBody(2))
	conflicts := []struct {
		name  string
		body  obj
		field string
	}{
		{"same document, digits only", customerBody(3).with("document", "52998224725"), "document"},
		{"same document, other punctuation", customerBody(3).with("document", "529 982 247 25"), "document"},
		{"same email", customerBody(3).with("email", "ana.silva@example.com"), "email"},
		{"same email in other case", customerBody(3).with("email", "ANA.SILVA@example.com"), "email"},
	}
	for _, tt := range conflicts {
		t.Run("create "+tt.name, func(t *testing.T) {
			res := a.call(t, http.MethodPost, "/v1/customers", storefrontToken, tt.body)
			wantProblem(t, res, http.StatusConflict, "conflict", []string{tt.field})
		})
	}
	t.Run("patch email to another customer's", func(t *testing.T) {
		res := a.call(t, http.MethodPatch, fmt.Sprintf("/v1/customers/%d", other.ID), storefrontToken,
			obj{"email": "Ana.Silva@EXAMPLE.com"})
		wantProblem(t, res, http.StatusConflict, "conflict", []string{"email"})
	})
	list := decode[model.List[model.Customer]](t, a.call(t, http.MethodGet, "/v1/customers", adminToken, nil), http.StatusOK)
	if len(list.Items) != 2 {
		t.Fatalf("after the conflicts there are %d customers, want 2: %+v", len(list.Items), list.Items)
	}

	// Each PATCH changes exactly the fields it gives.
	path := "/v1/customers/" + strconv.FormatInt(created.ID, 10)
	prev := created
	patches := []struct {
		name   string
		body   obj
		change func(*model.Customer)
	}{
		{"name", obj{"name": " Ana Paula "}, func(c *model.Customer) { c.Name = "Ana Paula" }},
		{"email", obj{"email": "Ana.Paula@Example.com"}, func(c *model.Customer) { c.Email = "ana.paula@example.com" }},
		{"phone", obj{"phone": "(21) 3456-7890"}, func(c *model.Customer) { c.Phone = "2134567890" }},
		{"clear phone", obj{"phone": ""}, func(c *model.Customer) { c.Phone = "" }},
		{"birth date", obj{"birth_date": "1985-01-31"}, func(c *model.Customer) { c.BirthDate = "1985-01-31" }},
		{"name and birth date", obj{"name": "Ana", "birth_date": "1990-05-17"}, func(c *model.Customer) {
			c.Name, c.BirthDate = "Ana", "1990-05-17"
		}},
	}
	for _, tt := range patches {
		t.Run("patch "+tt.name, func(t *testing.T) {
			got := decode[model.Customer](t, a.call(t, http.MethodPatch, path, storefrontToken, tt.body), http.StatusOK)
			want := prev
			tt.change(&want)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.Customer{}, "UpdatedAt")); diff != "" {
				t.Errorf("patched customer (-want +got):\n%s", diff)
			}
			if !got.UpdatedAt.After(prev.UpdatedAt) {
				t.Errorf("updated_at %v did not move past %v", got.UpdatedAt, prev.UpdatedAt)
			}
			again := decode[model.Customer](t, a.call(t, http.MethodGet, path, storefrontToken, nil), http.StatusOK)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("GET after PATCH (-patch answer +get):\n%s", diff)
			}
			prev = got
		})
	}

	// Deactivation keeps the row; reactivation brings the customer back.
	listed := func(t *testing.T, query string) []int64 {
		t.Helper()
		l := decode[model.List[model.Customer]](t, a.call(t, http.MethodGet, "/v1/customers?"+query, adminToken, nil), http.StatusOK)
		var ids []int64
		for _, c := range l.Items {
			ids = append(ids, c.ID)
		}
		return ids
	}
	steps := []struct {
		name, method, path string
		wantActive         bool
	}{
		{"DELETE deactivates", http.MethodDelete, path, false},
		{"deactivate again changes nothing", http.MethodPost, path + "/deactivate", false},
		{"reactivate", http.MethodPost, path + "/reactivate", true},
		{"reactivate again changes nothing", http.MethodPost, path + "/reactivate", true},
		{"deactivate", http.MethodPost, path + "/deactivate", false},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			got := decode[model.Customer](t, a.call(t, tt.method, tt.path, adminToken, nil), http.StatusOK)
			want := prev
			want.Active = tt.wantActive
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.Customer{}, "UpdatedAt")); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if changed := tt.wantActive != prev.Active; changed != got.UpdatedAt.After(prev.UpdatedAt) {
				t.Errorf("active %v -> %v, but updated_at %v -> %v", prev.Active, got.Active, prev.UpdatedAt, got.UpdatedAt)
			}
			again := decode[model.Customer](t, a.call(t, http.MethodGet, path, storefrontToken, nil), http.StatusOK)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("GET after %s (-answer +get):\n%s", tt.name, diff)
			}
			inactive, active := listed(t, "active=false"), listed(t, "active=true")
			if slices.Contains(inactive, created.ID) == tt.wantActive || slices.Contains(active, created.ID) != tt.wantActive {
				t.Errorf("?active=false lists %v, ?active=true lists %v; customer %d has active=%v",
					inactive, active, created.ID, tt.wantActive)
			}
			if !slices.Contains(active, other.ID) {
				t.Errorf("the other customer %d left ?active=true: %v", other.ID, active)
			}
			prev = got
		})
	}
}

func TestCustomerListFiltersAndPages(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	names := []string{"Ana Silva", "Bruno Costa", "ana paula", "Carla Souza", "Juliana Lima", "Diego Silva",
		"Eva Rocha", "Fabio Nunes", "Gabi Ana", "Hugo Reis", "Iara Mota", "Joao Dias", "Kaue Lopes", "Lia Melo",
		"Mara Neves", "Nina Alves", "Otto Braga", "Paula Cruz", "Rui Faria", "Sara Gomes", "Tito Hora", "Ugo Jesus",
		"Vera Luz"}
	var all []model.Customer
	for i, name := range names {
		all = append(all, a.createCustomer(t, customerBody(int64(1000+i)).with("name", name)))
	}
	for _, i := range []int{1, 3, 5} { // Bruno, Carla, Diego
		decode[model.Customer](t, a.call(t, http.MethodDelete, fmt.Sprintf("/v1/customers/%d", all[i].ID), adminToken, nil), http.StatusOK)
	}
	idsOf := func(idx ...int) []int64 {
		out := []int64{}
		for _, i := range idx {
			out = append(out, all[i].ID)
		}
		return out
	}
	everyone := make([]int, len(all))
	for i := range everyone {
		everyone[i] = i
	}
	active := slices.DeleteFunc(slices.Clone(everyone), func(i int) bool { return i == 1 || i == 3 || i == 5 })
	filters := []struct {
		query string
		want  []int64
	}{
		{"name=ana", idsOf(0, 2, 4, 8)},
		{"name=ANA", idsOf(0, 2, 4, 8)},
		{"name=silva", idsOf(0, 5)},
		{"name=silva&active=true", idsOf(0)},
		{"active=false", idsOf(1, 3, 5)},
		{"active=false&name=costa", idsOf(1)},
		{"email=" + url.QueryEscape(strings.ToUpper(all[6].Email)), idsOf(6)},
		{"email=" + url.QueryEscape(all[6].Email[1:]), idsOf()}, // exact, not contains
		{"document=" + url.QueryEscape(formatCPF(all[7].Document)), idsOf(7)},
		{"document=" + all[7].Document + "&active=false", idsOf()},
		{"name=nobody", idsOf()},
		{"name=" + url.QueryEscape("%"), idsOf()},
		{"limit=100", idsOf(everyone...)},
	}
	for _, tt := range filters {
		t.Run(tt.query, func(t *testing.T) {
			res := a.call(t, http.MethodGet, "/v1/customers?"+tt.query, adminToken, nil)
			l := decode[model.List[model.Customer]](t, res, http.StatusOK)
			got := []int64{}
			for _, c := range l.Items {
				got = append(got, c.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if l.NextCursor != "" {
				t.Errorf("next_cursor %q on the only page", l.NextCursor)
			}
			if len(tt.want) == 0 && !bytes.Contains(res.body, []byte(`"items":[]`)) {
				t.Errorf("an empty page must have items [], not null: %s", res.body)
			}
		})
	}

	t.Run("default limit", func(t *testing.T) {
		l := decode[model.List[model.Customer]](t, a.call(t, http.MethodGet, "/v1/customers", adminToken, nil), http.StatusOK)
		if len(l.Items) != model.DefaultLimit || l.NextCursor == "" {
			t.Fatalf("first page: %d items, next_cursor %q; want %d and a cursor", len(l.Items), l.NextCursor, model.DefaultLimit)
		}
	})

	pages := []struct {
		query string
		limit int
		want  []int64
	}{
		{"limit=1", 1, idsOf(everyone...)},
		{"limit=5", 5, idsOf(everyone...)},
		{"limit=22", 22, idsOf(everyone...)},
		{"limit=23", 23, idsOf(everyone...)},
		{"limit=2&active=true", 2, idsOf(active...)},
		{"limit=2&name=ana", 2, idsOf(0, 2, 4, 8)},
	}
	for _, tt := range pages {
		t.Run("walk "+tt.query, func(t *testing.T) {
			got := walk[model.Customer](t, a, "/v1/customers?"+tt.query, adminToken, tt.limit)
			ids := []int64{}
			for _, c := range got {
				ids = append(ids, c.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("ids over all pages (-want +got):\n%s", diff)
			}
		})
	}
}

// formatCPF punctuates eleven digits as 000.000.000-00.
func formatCPF(d string) string { return d[:3] + "." + d[3:6] + "." + d[6:9] + "-" + d[9:] }

// walk follows next_cursor from the first page of path (whose query holds limit) to the end and returns every
// item in order. It fails on a page over the limit, a short page with a cursor, an item seen twice, and a
// page count other than ceil(items/limit) (a last full page must not promise another).
func walk[T model.Customer | model.Disc](t *testing.T, a *testAPI, path, token string, limit int) []T {
	t.Helper()
	var all []T
	seen := map[int64]bool{}
	pages, cursor := 0, ""
	for {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		l := decode[model.List[T]](t, a.call(t, http.MethodGet, p, token, nil), http.StatusOK)
		pages++
		if len(l.Items) > limit || (l.NextCursor != "" && len(l.Items) != limit) {
			t.Fatalf("page %d of %s: %d items and next_cursor %q at limit %d", pages, path, len(l.Items), l.NextCursor, limit)
		}
		for _, it := range l.Items {
			id := idOf(it)
			if seen[id] {
				t.Fatalf("page %d of %s: id %d again", pages, path, id)
			}
			seen[id] = true
			all = append(all, it)
		}
		if l.NextCursor == "" {
			break
		}
		if pages > 1000 {
			t.Fatalf("%s: over 1000 pages; the cursor does not advance", path)
		}
		cursor = l.NextCursor
	}
	if want := max(1, (len(all)+limit-1)/limit); pages != want {
		t.Errorf("%s: %d pages for %d items at limit %d, want %d", path, pages, len(all), limit, want)
	}
	return all
}

func idOf(v any) int64 {
	switch v := v.(type) {
	case model.Customer:
		return v.ID
	case model.Disc:
		return v.ID
	}
	panic(fmt.Sprintf("idOf(%T)", v))
}

func TestDiscLifecycle(t *testing.T) {
	t.Parallel()
	for _, mode := range apiModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testDiscLifecycle(t, newAPIMode(t, mode))
		})
	}
}

func testDiscLifecycle(t *testing.T, a *testAPI) {
	res := a.call(t, http.MethodPost, "/v1/discs", adminToken, obj{"name": " Kind of Blue ", "artist": "Miles Davis",
		"release_year": 1959, "style": "Jazz", "price_cents": 4990, "stock": 10})
	d := decode[model.Disc](t, res, http.StatusCreated)
	want := model.Disc{Name: "Kind of Blue", Artist: "Miles Davis", ReleaseYear: 1959, Style: "Jazz", PriceCents: 4990,
		Stock: 10, Available: 10, SaleStartsAt: now, PerCustomerLimit: 0}
	if diff := cmp.Diff(want, d, cmpopts.IgnoreFields(model.Disc{}, "ID", "CreatedAt", "UpdatedAt")); diff != "" {
		t.Errorf("created disc (-want +got):\n%s", diff)
	}
	loc := res.header.Get("Location")
	if want := "/v1/discs/" + strconv.FormatInt(d.ID, 10); loc != want {
		t.Fatalf("Location %q, want %q", loc, want)
	}
	if got := decode[model.Disc](t, a.call(t, http.MethodGet, loc, "", nil), http.StatusOK); !cmp.Equal(d, got) {
		t.Errorf("GET Location (-created +got):\n%s", cmp.Diff(d, got))
	}

	t.Run("sale start with an offset", func(t *testing.T) {
		d2 := a.createDisc(t, discBody("Launch", "Davis", 2026, "Jazz", 5).with("sale_starts_at", "2026-12-01T12:00:00-03:00"))
		if want := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC); !d2.SaleStartsAt.Equal(want) {
			t.Errorf("sale_starts_at %v, want %v", d2.SaleStartsAt, want)
		}
	})

	prev := d
	changes := []struct {
		name, method, suffix string
		body                 obj
		change               func(*model.Disc)
	}{
		{"patch price", http.MethodPatch, "", obj{"price_cents": 5990}, func(d *model.Disc) { d.PriceCents = 5990 }},
		{"patch name and style", http.MethodPatch, "", obj{"name": "Kind of Blue (Legacy)", "style": "Modal Jazz"}, func(d *model.Disc) {
			d.Name, d.Style = "Kind of Blue (Legacy)", "Modal Jazz"
		}},
		{"patch limit and sale start", http.MethodPatch, "", obj{"per_customer_limit": 3, "sale_starts_at": "2027-01-01T00:00:00Z"}, func(d *model.Disc) {
			d.PerCustomerLimit, d.SaleStartsAt = 3, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		}},
		{"patch stock down", http.MethodPatch, "", obj{"stock": 7}, func(d *model.Disc) { d.Stock, d.Available = 7, 7 }},
		{"restock +5", http.MethodPost, "/restock", obj{"delta": 5}, func(d *model.Disc) { d.Stock, d.Available = 12, 12 }},
		{"restock -3", http.MethodPost, "/restock", obj{"delta": -3}, func(d *model.Disc) { d.Stock, d.Available = 9, 9 }},
		{"restock to zero", http.MethodPost, "/restock", obj{"delta": -9}, func(d *model.Disc) { d.Stock, d.Available = 0, 0 }},
		{"restock +4", http.MethodPost, "/restock", obj{"delta": 4}, func(d *model.Disc) { d.Stock, d.Available = 4, 4 }},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			got := decode[model.Disc](t, a.call(t, tt.method, loc+tt.suffix, adminToken, tt.body), http.StatusOK)
			want := prev
			tt.change(&want)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.Disc{}, "UpdatedAt")); diff != "" {
				t.Errorf("disc (-want +got):\n%s", diff)
			}
			if !got.UpdatedAt.After(prev.UpdatedAt) {
				t.Errorf("updated_at %v did not move past %v", got.UpdatedAt, prev.UpdatedAt)
			}
			if again := decode[model.Disc](t, a.call(t, http.MethodGet, loc, "", nil), http.StatusOK); !cmp.Equal(got, again) {
				t.Errorf("GET after the change (-answer +get):\n%s", cmp.Diff(got, again))
			}
			prev = got
		})
	}
	t.Run("restock below zero", func(t *testing.T) {
		res := a.call(t, http.MethodPost, loc+"/restock", adminToken, obj{"delta": -5})
		p := wantProblem(t, res, http.StatusConflict, "insufficient-stock", nil)
		if !strings.Contains(p.Detail, "4") {
			t.Errorf("detail %q does not say the stock there is (4)", p.Detail)
		}
		if got := decode[model.Disc](t, a.call(t, http.MethodGet, loc, "", nil), http.StatusOK); !cmp.Equal(prev, got) {
			t.Errorf("a refused restock changed the disc (-before +after):\n%s", cmp.Diff(prev, got))
		}
	})
	if n := a.assertLedger(t); n != 2 {
		t.Errorf("ledger checked %d discs, want 2", n)
	}

	t.Run("delete a disc never ordered", func(t *testing.T) {
		res := a.call(t, http.MethodDelete, loc, adminToken, nil)
		if res.status != http.StatusNoContent || len(res.body) != 0 {
			t.Fatalf("DELETE: %s; want 204 and no body", res)
		}
		wantProblem(t, a.call(t, http.MethodGet, loc, "", nil), http.StatusNotFound, "not-found", nil)
		wantProblem(t, a.call(t, http.MethodDelete, loc, adminToken, nil), http.StatusNotFound, "not-found", nil)
		wantProblem(t, a.call(t, http.MethodPost, loc+"/restock", adminToken, obj{"delta": 1}), http.StatusNotFound, "not-found", nil)
		wantProblem(t, a.call(t, http.MethodPatch, loc, adminToken, obj{"stock": 1}), http.StatusNotFound, "not-found", nil)
		if slices.Contains(listIDs(t, a, "/v1/discs?archived=true"), d.ID) {
			t.Errorf("the removed disc is listed as archived")
		}
	})

	t.Run("delete a disc with orders archives it", func(t *testing.T) {
		sold := a.createDisc(t, discBody("Blue Train", "John Coltrane", 1957, "Jazz", 10))
		a.insertOrder(t, a.createCustomer(t, customerBody(1)).ID, sold.ID, 3)
		path := "/v1/discs/" + strconv.FormatInt(sold.ID, 10)
		before := decode[model.Disc](t, a.call(t, http.MethodGet, path, "", nil), http.StatusOK)
		if before.Stock != 7 {
			t.Fatalf("stock after an order of 3 from 10 = %d", before.Stock)
		}
		for i := range 2 { // deleting an archived disc again answers it again
			got := decode[model.Disc](t, a.call(t, http.MethodDelete, path, adminToken, nil), http.StatusOK)
			want := before
			want.Archived, want.Available = true, 0 // nothing can be bought off an archived disc
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(model.Disc{}, "UpdatedAt")); diff != "" {
				t.Errorf("DELETE #%d (-want +got):\n%s", i+1, diff)
			}
			if again := decode[model.Disc](t, a.call(t, http.MethodGet, path, "", nil), http.StatusOK); !cmp.Equal(got, again) {
				t.Errorf("GET after DELETE #%d (-answer +get):\n%s", i+1, cmp.Diff(got, again))
			}
		}
		onSale := listIDs(t, a, "/v1/discs?limit=100")
		archived := listIDs(t, a, "/v1/discs?archived=true&limit=100")
		if slices.Contains(onSale, sold.ID) || !slices.Equal(archived, []int64{sold.ID}) {
			t.Errorf("on sale %v, archived %v; want disc %d among the archived only", onSale, archived, sold.ID)
		}
		wantProblem(t, a.call(t, http.MethodPost, path+"/restock", adminToken, obj{"delta": 1}), http.StatusConflict, "disc-archived", nil)
		wantProblem(t, a.call(t, http.MethodPatch, path, adminToken, obj{"price_cents": 1}), http.StatusConflict, "disc-archived", nil)
		if n := a.assertLedger(t); n != 2 {
			t.Errorf("ledger checked %d discs, want 2", n)
		}
	})
}

// listIDs returns the ids of the one page of discs at path.
func listIDs(t *testing.T, a *testAPI, path string) []int64 {
	t.Helper()
	l := decode[model.List[model.Disc]](t, a.call(t, http.MethodGet, path, "", nil), http.StatusOK)
	if l.NextCursor != "" {
		t.Fatalf("%s: more than one page", path)
	}
	return idsOfDiscs(l.Items)
}

func idsOfDiscs(ds []model.Disc) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestDiscListFilters(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	discs := []struct {
		name, artist string
		year         int
		style        string
		stock        int64
	}{
		{"Kind of Blue", "Miles Davis", 1959, "Jazz", 10},         // 0: the match
		{"Rock Davis", "Miles Davis", 1959, "Rock", 10},           // 1: another style
		{"Sketches of Spain", "Miles Davis", 1960, "Jazz", 0},     // 2: another year
		{"Giant Steps", "John Coltrane", 1959, "Jazz", 3},         // 3: another artist
		{"Bitches Brew", "MILES DAVIS QUINTET", 1959, "jazz", 1},  // 4: the match, in other cases
		{"Fusion", "Miles Davis", 1959, "Jazz Fusion", 2},         // 5: style is matched whole
		{"100% Pure", "Percent_Band", 1990, "Pop", 0},             // 6: % and _ in texts
		{"Blue Train", "John Coltrane", 1957, "Jazz", 5},          // 7
		{"A Love Supreme", "John Coltrane", 1965, "Spiritual", 4}, // 8
	}
	var ids []int64
	for _, d := range discs {
		ids = append(ids, a.createDisc(t, discBody(d.name, d.artist, d.year, d.style, d.stock)).ID)
	}
	archived := a.createDisc(t, discBody("Archived Blue", "Miles Davis", 1959, "Jazz", 1))
	a.insertOrder(t, a.createCustomer(t, customerBody(1)).ID, archived.ID, 1)
	decode[model.Disc](t, a.call(t, http.MethodDelete, fmt.Sprintf("/v1/discs/%d", archived.ID), adminToken, nil), http.StatusOK)
	idsOf := func(idx ...int) []int64 {
		out := []int64{}
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	tests := []struct {
		query string
		want  []int64
	}{
		{"artist=davis&year=1959&style=jazz", idsOf(0, 4)},
		{"artist=Miles+Davis&year=1959&style=JAZZ&in_stock=true", idsOf(0, 4)},
		{"artist=davis", idsOf(0, 1, 2, 4, 5)},
		{"style=jazz", idsOf(0, 2, 3, 4, 7)},
		{"year=1959", idsOf(0, 1, 3, 4, 5)},
		{"name=blue", idsOf(0, 7)},
		{"name=BLUE&artist=coltrane", idsOf(7)},
		{"year_from=1959&year_to=1960", idsOf(0, 1, 2, 3, 4, 5)},
		{"year_from=1960", idsOf(2, 6, 8)},
		{"year_to=1957", idsOf(7)},
		{"in_stock=false", idsOf(2, 6)},
		{"in_stock=true&artist=coltrane", idsOf(3, 7, 8)},
		{"name=" + url.QueryEscape("%"), idsOf(6)},
		{"artist=" + url.QueryEscape("_"), idsOf(6)},
		{"name=" + url.QueryEscape("0% p"), idsOf(6)},
		{"artist=davis&archived=true", []int64{archived.ID}},
		{"archived=false&name=archived", idsOf()},
		{"artist=nobody", idsOf()},
		{"style=jaz", idsOf()},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := a.call(t, http.MethodGet, "/v1/discs?"+tt.query, "", nil)
			l := decode[model.List[model.Disc]](t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, idsOfDiscs(l.Items)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			for _, d := range l.Items {
				if !d.Archived && d.Available != d.Stock {
					t.Errorf("disc %d: available %d, stock %d", d.ID, d.Available, d.Stock)
				}
			}
			if l.NextCursor != "" {
				t.Errorf("next_cursor %q on the only page", l.NextCursor)
			}
			if len(tt.want) == 0 && !bytes.Contains(res.body, []byte(`"items":[]`)) {
				t.Errorf("an empty page must have items [], not null: %s", res.body)
			}
		})
	}
	if n := a.assertLedger(t); n != len(discs)+1 {
		t.Errorf("ledger checked %d discs, want %d", n, len(discs)+1)
	}
}

func TestDiscListSortOrders(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	// Letters only, so that the database's collation orders the lower-cased keys as Go does; equal keys in
	// other cases and equal years make the id break ties.
	specs := []struct {
		name, artist string
		year         int
	}{
		{"delta", "yan", 1990},
		{"Alpha", "xavier", 2001},
		{"charlie", "Yan", 1975},
		{"ALPHA", "zed", 1990},
		{"Echo", "abel", 2001},
		{"bravo", "Xavier", 1960},
		{"alpha", "mona", 1990},
		{"foxtrot", "YAN", 2020},
	}
	var created []model.Disc
	for _, s := range specs {
		created = append(created, a.createDisc(t, discBody(s.name, s.artist, s.year, "Rock", 1)))
	}
	keys := map[string]func(model.Disc) string{
		"name":         func(d model.Disc) string { return strings.ToLower(d.Name) },
		"artist":       func(d model.Disc) string { return strings.ToLower(d.Artist) },
		"release_year": func(d model.Disc) string { return fmt.Sprintf("%04d", d.ReleaseYear) },
		"created_at":   func(d model.Disc) string { return d.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000") },
	}
	for _, key := range model.DiscSortKeys {
		keyOf, ok := keys[key]
		if !ok {
			t.Errorf("sort key %q is new to this test; add how to order by it", key)
			continue
		}
		for _, desc := range []bool{false, true} {
			sort := key
			if desc {
				sort = "-" + key
			}
			want := slices.Clone(created)
			slices.SortFunc(want, func(x, y model.Disc) int {
				c := strings.Compare(keyOf(x), keyOf(y))
				if c == 0 {
					c = int(x.ID - y.ID)
				}
				if desc {
					c = -c
				}
				return c
			})
			for _, limit := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s limit %d", sort, limit), func(t *testing.T) {
					got := walk[model.Disc](t, a, fmt.Sprintf("/v1/discs?sort=%s&limit=%d", sort, limit), "", limit)
					if diff := cmp.Diff(idsOfDiscs(want), idsOfDiscs(got)); diff != "" {
						t.Errorf("ids in order (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
	t.Run("default order is created_at", func(t *testing.T) {
		if diff := cmp.Diff(idsOfDiscs(created), listIDs(t, a, "/v1/discs")); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
}

func TestHealthDocsAndMetrics(t *testing.T) {
	t.Parallel()
	a := newServedAPI(t)
	t.Run("healthz", func(t *testing.T) {
		got := decode[map[string]string](t, a.call(t, http.MethodGet, "/healthz", "", nil), http.StatusOK)
		if diff := cmp.Diff(map[string]string{"status": "ok"}, got); diff != "" {
			t.Errorf("/healthz (-want +got):\n%s", diff)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		got := decode[map[string]string](t, a.call(t, http.MethodGet, "/readyz", "", nil), http.StatusOK)
		if diff := cmp.Diff(map[string]string{"postgres": "ok", "redis": "ok"}, got); diff != "" {
			t.Errorf("/readyz (-want +got):\n%s", diff)
		}
	})
	t.Run("openapi.json", func(t *testing.T) {
		res := a.call(t, http.MethodGet, "/openapi.json", "", nil)
		if res.status != http.StatusOK || res.mediaType() != "application/json" {
			t.Fatalf("/openapi.json: %d %q", res.status, res.header.Get("Content-Type"))
		}
		var doc struct {
			OpenAPI string                     `json:"openapi"`
			Paths   map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(res.body, &doc); err != nil {
			t.Fatalf("/openapi.json is not JSON: %v", err)
		}
		if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/v1/discs"] == nil {
			t.Errorf("openapi %q with paths %v; want a 3.x document that has /v1/discs", doc.OpenAPI, slices.Sorted(maps.Keys(doc.Paths)))
		}
	})
	t.Run("docs", func(t *testing.T) {
		res := a.call(t, http.MethodGet, "/docs", "", nil)
		if res.status != http.StatusOK || res.mediaType() != "text/html" {
			t.Fatalf("/docs: %d %q", res.status, res.header.Get("Content-Type"))
		}
		if !bytes.HasPrefix(bytes.TrimSpace(res.body), []byte("<!DOCTYPE html>")) || !bytes.Contains(res.body, []byte("/v1/discs")) {
			t.Errorf("/docs is not an HTML page that shows the API: %.200s", res.body)
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		for _, path := range []string{"/nope", "/v1/records", "/v1/discs/1/nope", "/v2/discs"} {
			p := wantProblem(t, a.call(t, http.MethodGet, path, adminToken, nil), http.StatusNotFound, "not-found", nil)
			if p.Instance != path {
				t.Errorf("instance %q, want %q", p.Instance, path)
			}
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		for _, tt := range []struct{ method, path, allow string }{
			{http.MethodPut, "/v1/discs", "GET, POST"},
			{http.MethodDelete, "/healthz", "GET"},
			{http.MethodPut, "/v1/customers/1", "DELETE, GET, PATCH"},
			{http.MethodGet, "/v1/discs/1/restock", "POST"},
		} {
			res := a.call(t, tt.method, tt.path, adminToken, nil)
			wantProblem(t, res, http.StatusMethodNotAllowed, "method-not-allowed", nil)
			// RFC 9110 section 15.5.6: a 405 MUST carry Allow, listing the methods the resource supports.
			allow := strings.Split(strings.ReplaceAll(res.header.Get("Allow"), " ", ""), ",")
			slices.Sort(allow)
			if got := strings.Join(allow, ", "); got != tt.allow {
				t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, res.header.Get("Allow"), tt.allow)
			}
		}
	})
	t.Run("request id", func(t *testing.T) {
		res := a.do(t, request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": "req-42"}})
		if got := res.header.Get("X-Request-Id"); got != "req-42" {
			t.Errorf("X-Request-Id %q, want the caller's req-42", got)
		}
		if got := a.call(t, http.MethodGet, "/healthz", "", nil).header.Get("X-Request-Id"); got == "" {
			t.Errorf("no X-Request-Id made for a request without one")
		}
	})
	t.Run("metrics", func(t *testing.T) {
		before, _ := scrape(t, a)
		for range 3 {
			a.call(t, http.MethodGet, "/v1/discs/424242", "", nil)
		}
		a.call(t, http.MethodGet, "/v1/discs?limit=1", "", nil)
		a.call(t, http.MethodGet, "/no/such/path", "", nil)
		after, text := scrape(t, a)
		for series, want := range map[string]float64{
			`{method="GET",route="/v1/discs/:id",status="404"}`: 3,
			`{method="GET",route="/v1/discs",status="200"}`:     1,
			`{method="GET",route="unmatched",status="404"}`:     1,
			`{method="GET",route="/metrics",status="200"}`:      1, // the first scrape; a scrape counts after it answers
		} {
			if got := after[series] - before[series]; got != want {
				t.Errorf("recordshop_http_requests_total%s went up by %v, want %v", series, got, want)
			}
		}
		for _, leak := range []string{"424242", "/no/such/path"} {
			if strings.Contains(text, leak) {
				t.Errorf("/metrics labels by raw path (%s); routes must be patterns", leak)
			}
		}
		if !strings.Contains(text, `recordshop_http_request_duration_seconds_count{method="GET",route="/v1/discs/:id",status="404"}`) {
			t.Errorf("/metrics has no latency histogram for GET /v1/discs/:id")
		}
	})
}

// scrape reads /metrics and returns recordshop_http_requests_total by its label set as written, and the text.
func scrape(t *testing.T, a *testAPI) (map[string]float64, string) {
	t.Helper()
	res := a.call(t, http.MethodGet, "/metrics", "", nil)
	if res.status != http.StatusOK || res.mediaType() != "text/plain" {
		t.Fatalf("/metrics: %d %q", res.status, res.header.Get("Content-Type"))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(res.body), "\n") {
		rest, ok := strings.CutPrefix(line, "recordshop_http_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, " ")
		v, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			t.Fatalf("/metrics line %q is not a series and a value", line)
		}
		out["{"+labels] = v
	}
	if len(out) == 0 {
		t.Fatalf("/metrics has no recordshop_http_requests_total series:\n%s", res.body)
	}
	return out, string(res.body)
}

func TestReadyzWhenADependencyIsDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cut  func(*testAPI)
		down string
	}{
		{"redis", func(a *testAPI) { a.redis.Close() }, "redis"},
		{"postgres", func(a *testAPI) { a.pool.Close() }, "postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			tt.cut(a)
			p := wantProblem(t, a.call(t, http.MethodGet, "/readyz", "", nil), http.StatusServiceUnavailable, "not-ready", nil)
			for _, dep := range []string{"postgres", "redis"} {
				if named := strings.Contains(p.Detail, dep); named != (dep == tt.down) {
					t.Errorf("detail %q: names %s = %v; only %s is down", p.Detail, dep, named, tt.down)
				}
			}
			// Liveness does not depend on either.
			if res := a.call(t, http.MethodGet, "/healthz", "", nil); res.status != http.StatusOK {
				t.Errorf("/healthz with %s down: %s", tt.down, res)
			}
		})
	}
}
