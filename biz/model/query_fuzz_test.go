package model_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/learecordshop/recordshop/biz/model"
)

// The list query targets parse any raw query string as the handlers do (url.ParseQuery; a string it refuses never
// reaches a parser). A refusal is a query ValidationError; what is accepted holds only clean text, a limit
// of 1 to MaxLimit, times that write back as JSON and a cursor of the list's own sort order.

// addQuerySeeds adds the query strings every list target starts from, with a signed cursor of each sort order.
func addQuerySeeds(f *testing.F, more ...string) {
	for _, c := range fuzzValidCursors {
		f.Add("limit=100&cursor=" + url.QueryEscape(fuzzCursors.Encode(c)))
	}
	for _, q := range append(more, "", "name=%00", "name=%ff", "name=a%e2%80%aeb", "name=%e2%80%8b", "limit=0",
		"limit=01", "limit=%2B1", "limit=-0", "limit=9223372036854775808", "name="+strings.Repeat("%C3%A9", 201)) {
		f.Add(q)
	}
}

// FuzzParseDiscQuery parses any query of GET /v1/discs.
func FuzzParseDiscQuery(f *testing.F) {
	addQuerySeeds(f, "name=Blue&artist=Miles&style=jazz&year_from=1950&year_to=1969&in_stock=true&sort=-release_year",
		"sort=-", "sort=%C5%BFtock", "year=1e3&NAME=x", "name=a&name=b")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := model.ParseDiscQuery(q, fuzzCursors)
		if err != nil {
			queryRefusal(t, raw, err)
			return
		}
		queryText(t, raw, "name", got.Name)
		queryText(t, raw, "artist", got.Artist)
		queryText(t, raw, "style", got.Style)
		queryLimit(t, raw, got.Limit)
		if !slices.Contains(model.DiscSortKeys, got.SortKey) {
			t.Fatalf("query %q: sort key %q is not one of %q", raw, got.SortKey, model.DiscSortKeys)
		}
		for _, y := range []int{got.Year, got.YearFrom, got.YearTo} {
			if y != 0 && (y < model.MinReleaseYear || y > model.MaxReleaseYear) {
				t.Fatalf("query %q: year %d out of range", raw, y)
			}
		}
		queryCursor(t, raw, got.After, got.Sort())
	})
}

// FuzzParseCustomerQuery parses any query of GET /v1/customers; a document it keeps is a normalised CPF.
func FuzzParseCustomerQuery(f *testing.F) {
	addQuerySeeds(f, "name=Ana&email=Ana%40Example.COM&document=529.982.247-25&active=true",
		"email=%E2%84%AA%40example.com", "document=111.111.111-11", "active=1&active=0")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := model.ParseCustomerQuery(q, fuzzCursors)
		if err != nil {
			queryRefusal(t, raw, err)
			return
		}
		queryText(t, raw, "name", got.Name)
		queryText(t, raw, "email", got.Email)
		queryText(t, raw, "document", got.Document)
		if got.Email != strings.ToLower(got.Email) {
			t.Fatalf("query %q: email %q is not lower-cased", raw, got.Email)
		}
		if got.Document != "" {
			if d, ok := model.NormalizeCPF(got.Document); !ok || d != got.Document {
				t.Fatalf("query %q: document %q is not a normalised CPF", raw, got.Document)
			}
		}
		queryLimit(t, raw, got.Limit)
		queryCursor(t, raw, got.After, "id")
	})
}

// FuzzParseOrderQuery parses any query of GET /v1/orders, whose from and to go back out as JSON.
func FuzzParseOrderQuery(f *testing.F) {
	addQuerySeeds(f, "customer_id=1&disc_id=2&status=confirmed&from=2026-11-01&to=2026-12-01T00:00:00Z",
		"from=0000-01-01T00:30:00%2B01:00", "to=9999-12-31T23:59:59-05:00", "from=9999-12-31", "customer_id=01",
		"customer_id=%2B1", "disc_id=9223372036854775808", "status=CONFIRMED")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := model.ParseOrderQuery(q, fuzzCursors)
		if err != nil {
			queryRefusal(t, raw, err)
			return
		}
		queryText(t, raw, "status", got.Status)
		if got.Status != "" && got.Status != model.StatusConfirmed && got.Status != model.StatusCancelled {
			t.Fatalf("query %q: status %q", raw, got.Status)
		}
		if got.CustomerID < 0 || got.DiscID < 0 {
			t.Fatalf("query %q: ids %d, %d", raw, got.CustomerID, got.DiscID)
		}
		for _, tm := range []*time.Time{got.From, got.To} {
			if tm == nil {
				continue
			}
			if tm.Before(model.MinTime) || tm.After(model.MaxTime) {
				t.Fatalf("query %q: time %v outside %v..%v", raw, tm, model.MinTime, model.MaxTime)
			}
			if _, err := json.Marshal(tm); err != nil {
				t.Fatalf("query %q: time %v cannot be written as JSON: %v", raw, tm, err)
			}
		}
		if got.From != nil && got.To != nil && !got.From.Before(*got.To) {
			t.Fatalf("query %q: from %v is not before to %v", raw, got.From, got.To)
		}
		queryLimit(t, raw, got.Limit)
		queryCursor(t, raw, got.After, "-reserved_at")
	})
}

// queryRefusal fails unless err is a query ValidationError naming at least one parameter.
func queryRefusal(t *testing.T, raw string, err error) {
	t.Helper()
	var v *model.ValidationError
	if !errors.As(err, &v) || v.In != "query" || len(v.Fields) == 0 {
		t.Fatalf("query %q refused with %T %v; want a *model.ValidationError in query", raw, err, err)
	}
}

// queryText fails unless s is text the shop may store and show: valid UTF-8, trimmed, at most MaxTextLen
// characters, without control characters, U+FFFD or bidirectional controls.
func queryText(t *testing.T, raw, name, s string) {
	t.Helper()
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > model.MaxTextLen || s != strings.TrimSpace(s) {
		t.Fatalf("query %q: %s = %q; want trimmed UTF-8 text of at most %d characters", raw, name, s, model.MaxTextLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r) {
			t.Fatalf("query %q: %s = %q holds %U", raw, name, s, r)
		}
	}
}

func queryLimit(t *testing.T, raw string, limit int) {
	t.Helper()
	if limit < 1 || limit > model.MaxLimit {
		t.Fatalf("query %q: limit %d; want 1 to %d", raw, limit, model.MaxLimit)
	}
}

// queryCursor fails unless c is nil or a cursor of sort that the codec would hand out as it is.
func queryCursor(t *testing.T, raw string, c *model.Cursor, sort string) {
	t.Helper()
	if c == nil {
		return
	}
	if again, ok := fuzzCursors.Decode(fuzzCursors.Encode(*c), sort); !ok || again != *c {
		t.Fatalf("query %q: cursor %+v of sort %q does not round-trip", raw, c, sort)
	}
}
