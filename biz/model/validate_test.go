package model_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/learecordshop/recordshop/biz/model"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// fields returns the field names of a validation error, or nil when err is nil.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var v *model.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %v is not a *model.ValidationError", err)
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	return out
}

func validCustomer() model.CustomerCreate {
	return model.CustomerCreate{Document: "529.982.247-25", Name: " Ana ", Email: " Ana@Example.COM ",
		Phone: "+55 (11) 91234-5678", BirthDate: "1990-05-17"}
}

func TestCustomerCreateValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*model.CustomerCreate)
		want   []string
	}{
		{"valid", func(*model.CustomerCreate) {}, nil},
		{"no phone is fine", func(c *model.CustomerCreate) { c.Phone = "" }, nil},
		{"document missing", func(c *model.CustomerCreate) { c.Document = "" }, []string{"document"}},
		{"document bad check digit", func(c *model.CustomerCreate) { c.Document = "529.982.247-26" }, []string{"document"}},
		{"name missing", func(c *model.CustomerCreate) { c.Name = "  " }, []string{"name"}},
		{"name too long", func(c *model.CustomerCreate) { c.Name = strings.Repeat("a", 201) }, []string{"name"}},
		{"name control char", func(c *model.CustomerCreate) { c.Name = "Ana\x00" }, []string{"name"}},
		{"email missing", func(c *model.CustomerCreate) { c.Email = "" }, []string{"email"}},
		{"email no at", func(c *model.CustomerCreate) { c.Email = "ana.example.com" }, []string{"email"}},
		{"email display name", func(c *model.CustomerCreate) { c.Email = "Ana <ana@example.com>" }, []string{"email"}},
		{"email no domain dot", func(c *model.CustomerCreate) { c.Email = "ana@localhost" }, []string{"email"}},
		{"phone letters", func(c *model.CustomerCreate) { c.Phone = "call me" }, []string{"phone"}},
		{"phone too short", func(c *model.CustomerCreate) { c.Phone = "1234567" }, []string{"phone"}},
		{"birth date missing", func(c *model.CustomerCreate) { c.BirthDate = "" }, []string{"birth_date"}},
		{"birth date format", func(c *model.CustomerCreate) { c.BirthDate = "17/05/1990" }, []string{"birth_date"}},
		{"birth date impossible", func(c *model.CustomerCreate) { c.BirthDate = "1990-02-30" }, []string{"birth_date"}},
		{"birth date future", func(c *model.CustomerCreate) { c.BirthDate = "2030-01-01" }, []string{"birth_date"}},
		{"birth date too old", func(c *model.CustomerCreate) { c.BirthDate = "1899-12-31" }, []string{"birth_date"}},
		{"all wrong at once", func(c *model.CustomerCreate) { *c = model.CustomerCreate{} },
			[]string{"document", "name", "email", "birth_date"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCustomer()
			tt.mutate(&c)
			if diff := cmp.Diff(tt.want, fields(t, c.Validate(now))); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCustomerCreateNormalises(t *testing.T) {
	c := validCustomer()
	if err := c.Validate(now); err != nil {
		t.Fatal(err)
	}
	want := model.CustomerCreate{Document: "52998224725", Name: "Ana", Email: "ana@example.com",
		Phone: "+5511912345678", BirthDate: "1990-05-17"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("normalised customer (-want +got):\n%s", diff)
	}
}

func TestCustomerPatchValidate(t *testing.T) {
	tests := []struct {
		name  string
		patch model.CustomerPatch
		want  []string
	}{
		{"empty patch", model.CustomerPatch{}, []string{""}},
		{"name only", model.CustomerPatch{Name: ptr("Bia")}, nil},
		{"bad email", model.CustomerPatch{Email: ptr("nope")}, []string{"email"}},
		{"blank name", model.CustomerPatch{Name: ptr(" ")}, []string{"name"}},
		{"bad phone", model.CustomerPatch{Phone: ptr("12")}, []string{"phone"}},
		{"clear phone", model.CustomerPatch{Phone: ptr("")}, nil},
		{"bad birth date", model.CustomerPatch{BirthDate: ptr("yesterday")}, []string{"birth_date"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, fields(t, tt.patch.Validate(now))); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func validDisc() model.DiscCreate {
	return model.DiscCreate{Name: "We are Reactive", Artist: "Hohpe", ReleaseYear: 2022, Style: "Indie",
		PriceCents: ptr[int64](4990), Stock: 500, PerCustomerLimit: 2}
}

func TestDiscCreateValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*model.DiscCreate)
		want   []string
	}{
		{"valid", func(*model.DiscCreate) {}, nil},
		{"free disc", func(d *model.DiscCreate) { d.PriceCents = ptr[int64](0) }, nil},
		{"name missing", func(d *model.DiscCreate) { d.Name = "" }, []string{"name"}},
		{"artist missing", func(d *model.DiscCreate) { d.Artist = "" }, []string{"artist"}},
		{"style missing", func(d *model.DiscCreate) { d.Style = "" }, []string{"style"}},
		{"style too long", func(d *model.DiscCreate) { d.Style = strings.Repeat("s", 61) }, []string{"style"}},
		{"year missing", func(d *model.DiscCreate) { d.ReleaseYear = 0 }, []string{"release_year"}},
		{"year too early", func(d *model.DiscCreate) { d.ReleaseYear = 1800 }, []string{"release_year"}},
		{"year too late", func(d *model.DiscCreate) { d.ReleaseYear = 2101 }, []string{"release_year"}},
		{"price missing", func(d *model.DiscCreate) { d.PriceCents = nil }, []string{"price_cents"}},
		{"price negative", func(d *model.DiscCreate) { d.PriceCents = ptr[int64](-1) }, []string{"price_cents"}},
		{"price too high", func(d *model.DiscCreate) { d.PriceCents = ptr[int64](model.MaxPriceCents + 1) }, []string{"price_cents"}},
		{"stock negative", func(d *model.DiscCreate) { d.Stock = -1 }, []string{"stock"}},
		{"stock too high", func(d *model.DiscCreate) { d.Stock = model.MaxStock + 1 }, []string{"stock"}},
		{"limit negative", func(d *model.DiscCreate) { d.PerCustomerLimit = -1 }, []string{"per_customer_limit"}},
		{"limit too high", func(d *model.DiscCreate) { d.PerCustomerLimit = model.MaxCustomerLimit + 1 }, []string{"per_customer_limit"}},
		{"sale start not RFC 3339", func(d *model.DiscCreate) { d.SaleStartsAt = ptr("tomorrow") }, []string{"sale_starts_at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDisc()
			tt.mutate(&d)
			if diff := cmp.Diff(tt.want, fields(t, d.Validate(now))); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscCreateSaleStart(t *testing.T) {
	d := validDisc()
	if err := d.Validate(now); err != nil || !d.StartsAt.Equal(now) {
		t.Fatalf("absent sale_starts_at: StartsAt = %v, err %v; want now", d.StartsAt, err)
	}
	d.SaleStartsAt = ptr("2026-12-01T12:00:00-03:00")
	if err := d.Validate(now); err != nil || !d.StartsAt.Equal(time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)) {
		t.Fatalf("StartsAt = %v, err %v", d.StartsAt, err)
	}
}

func TestDiscPatchAndRestockValidate(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"empty patch", (&model.DiscPatch{}).Validate(), []string{""}},
		{"price only", (&model.DiscPatch{PriceCents: ptr[int64](100)}).Validate(), nil},
		{"negative stock", (&model.DiscPatch{Stock: ptr[int64](-5)}).Validate(), []string{"stock"}},
		{"bad year", (&model.DiscPatch{ReleaseYear: ptr(99)}).Validate(), []string{"release_year"}},
		{"blank artist", (&model.DiscPatch{Artist: ptr("")}).Validate(), []string{"artist"}},
		{"bad limit", (&model.DiscPatch{PerCustomerLimit: ptr(-1)}).Validate(), []string{"per_customer_limit"}},
		{"bad sale start", (&model.DiscPatch{SaleStartsAt: ptr("2026-13-01T00:00:00Z")}).Validate(), []string{"sale_starts_at"}},
		{"restock zero", (&model.Restock{}).Validate(), []string{"delta"}},
		{"restock negative ok", (&model.Restock{Delta: -3}).Validate(), nil},
		{"restock too big", (&model.Restock{Delta: model.MaxStock + 1}).Validate(), []string{"delta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, fields(t, tt.err)); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDiscQuery(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		{"", nil},
		{"name=blue&artist=hohpe&style=indie&year=2022&in_stock=true&sort=-release_year&limit=5", nil},
		{"year_from=1990&year_to=2000", nil},
		{"year_from=2000&year_to=1990", []string{"year_from"}},
		{"year=2000&year_from=1990", []string{"year"}},
		{"year=abc", []string{"year"}},
		{"year=1500", []string{"year"}},
		{"in_stock=maybe", []string{"in_stock"}},
		{"archived=yes", []string{"archived"}},
		{"sort=price", []string{"sort"}},
		{"limit=0", []string{"limit"}},
		{"limit=101", []string{"limit"}},
		{"limit=ten", []string{"limit"}},
		{"cursor=garbage", []string{"cursor"}},
		{"artst=hohpe", []string{"artst"}},
		{"name=a&name=b", []string{"name"}},
		{"name=" + strings.Repeat("x", 201), []string{"name"}},
		// One spelling per value: numbers in canonical decimal, booleans as true or false.
		{"year=%2B2000", []string{"year"}},
		{"year=02000", []string{"year"}},
		{"limit=%2B5", []string{"limit"}},
		{"limit=05", []string{"limit"}},
		{"in_stock=1", []string{"in_stock"}},
		{"in_stock=TRUE", []string{"in_stock"}},
		{"archived=f", []string{"archived"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = model.ParseDiscQuery(q, cursors)
			if diff := cmp.Diff(tt.want, fields(t, err)); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

// cursors is the codec of these tests; other is another shop's.
var (
	cursors = model.NewCursorCodec([]byte("the test key of sixteen bytes or more"))
	other   = model.NewCursorCodec([]byte("another shop's key, just as long"))
)

func TestDiscCursorIsTiedToItsSortOrder(t *testing.T) {
	c := cursors.Encode(model.Cursor{Sort: "-release_year", Value: "2022", ID: 7})
	if _, err := model.ParseDiscQuery(url.Values{"sort": {"-release_year"}, "cursor": {c}}, cursors); err != nil {
		t.Fatalf("cursor of the same sort refused: %v", err)
	}
	_, err := model.ParseDiscQuery(url.Values{"sort": {"release_year"}, "cursor": {c}}, cursors)
	if diff := cmp.Diff([]string{"cursor"}, fields(t, err)); diff != "" {
		t.Fatalf("cursor of another sort order (-want +got):\n%s", diff)
	}
}

// TestCursorCodec: only a cursor the codec signed, for the sort order asked, with values that fit that order,
// comes back; every other string is refused.
func TestCursorCodec(t *testing.T) {
	valid := []model.Cursor{
		{Sort: "id", ID: 3},
		{Sort: "name", Value: "björk", ID: 1},
		{Sort: "-artist", Value: "坂本龍一", ID: 9},
		{Sort: "release_year", Value: "1959", ID: 2},
		{Sort: "-created_at", Value: model.CursorTime(time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC)), ID: 4},
		{Sort: "-reserved_at", Value: "2026-11-24T12:00:00.001Z", OrderID: "0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b"},
	}
	for _, c := range valid {
		s := cursors.Encode(c)
		got, ok := cursors.Decode(s, c.Sort)
		if !ok || got != c {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v; want it back", c, got, ok)
		}
		if _, ok := other.Decode(s, c.Sort); ok {
			t.Errorf("a cursor signed with another key was accepted: %+v", c)
		}
		for i := range s {
			if s[i] == '.' {
				continue
			}
			b := []byte(s)
			b[i] ^= 0x01
			if _, ok := cursors.Decode(string(b), c.Sort); ok {
				t.Errorf("cursor %q with byte %d changed (%q) was accepted", s, i, b)
			}
		}
	}
	// Signed, but with values that do not fit their sort order: refused all the same.
	unfit := []model.Cursor{
		{Sort: "id"},
		{Sort: "id", ID: 1, Value: "x"},
		{Sort: "name", Value: "a\x00b", ID: 1},
		{Sort: "name", Value: "ok"},
		{Sort: "release_year", Value: "1e3", ID: 1},
		{Sort: "release_year", Value: "99999", ID: 1},
		{Sort: "created_at", Value: "2026-11-24 12:00:00+00", ID: 1},
		{Sort: "created_at", Value: "0000-01-01T00:30:00+01:00", ID: 1},
		{Sort: "-reserved_at", Value: "2026-11-24T12:00:00Z", OrderID: "{0193a4b0-7c1e-7d4a-9b1f-2c3d4e5f6a7b}"},
		{Sort: "price", Value: "1", ID: 1},
	}
	for _, c := range unfit {
		if got, ok := cursors.Decode(cursors.Encode(c), c.Sort); ok {
			t.Errorf("signed cursor with unfit values accepted: %+v", got)
		}
	}
	for _, s := range []string{"", ".", "garbage", "e30.", strings.Repeat("A", 2000) + ".x"} {
		if _, ok := cursors.Decode(s, "id"); ok {
			t.Errorf("Decode(%q) accepted", s)
		}
	}
}

func TestParseCustomerQuery(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		{"", nil},
		{"name=ana&email=ANA@example.com&document=529.982.247-25&active=false&limit=100", nil},
		{"document=123", []string{"document"}},
		{"active=1x", []string{"active"}},
		{"sort=name", []string{"sort"}},
		{"cursor=" + cursors.Encode(model.Cursor{Sort: "name", Value: "ana", ID: 3}), []string{"cursor"}},
		{"cursor=" + other.Encode(model.Cursor{Sort: "id", ID: 3}), []string{"cursor"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := model.ParseCustomerQuery(q, cursors)
			if diff := cmp.Diff(tt.want, fields(t, err)); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
			if err == nil && tt.query != "" && (got.Email != "ana@example.com" || got.Document != "52998224725" || got.Limit != 100) {
				t.Fatalf("parsed query not normalised: %+v", got)
			}
		})
	}
}
