package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/learecordshop/recordshop/biz/model"
)

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
