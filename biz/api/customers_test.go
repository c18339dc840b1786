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

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/model"
)

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
