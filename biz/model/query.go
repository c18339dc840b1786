package model

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Page sizes of every list endpoint.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// List is the answer of every list endpoint. Next marks where the page ended (nil on the last page); the
// handler signs it into NextCursor.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor string  `json:"next_cursor"`
	Next       *Cursor `json:"-"`
}

// CustomerQuery is the parsed query of GET /v1/customers.
type CustomerQuery struct {
	Name     string // contains, case-insensitive
	Email    string // exact (lower-cased)
	Document string // exact (normalised CPF)
	Active   *bool
	Limit    int
	After    *Cursor
}

// ParseCustomerQuery validates the query parameters of the customer list (cursors reads ?cursor=); unknown parameters are refused so
// that a typo does not silently list everything.
func ParseCustomerQuery(q url.Values, cursors CursorCodec) (CustomerQuery, error) {
	v := fieldErrors{in: "query"}
	out := CustomerQuery{Limit: DefaultLimit}
	p := queryParser{q: q, v: &v, cursors: cursors}
	p.known("name", "email", "document", "active", "limit", "cursor")
	out.Name = p.text("name")
	out.Email = strings.ToLower(p.text("email"))
	if doc := p.text("document"); doc != "" {
		if d, ok := NormalizeCPF(doc); ok {
			out.Document = d
		} else {
			v.add("document", "must be a valid CPF")
		}
	}
	out.Active = p.boolean("active")
	out.Limit = p.limit()
	out.After = p.cursor("id")
	return out, v.err()
}

// DiscSortKeys are the orders the disc list can be sorted by; a leading "-" in ?sort= means descending.
var DiscSortKeys = []string{"name", "artist", "release_year", "created_at"}

// DiscQuery is the parsed query of GET /v1/discs.
type DiscQuery struct {
	Name, Artist string // contains, case-insensitive
	Style        string // exact, case-insensitive
	Year         int    // exact release year; 0 = any
	YearFrom     int    // inclusive; 0 = open
	YearTo       int    // inclusive; 0 = open
	InStock      *bool
	Archived     bool // false (default) lists discs on sale; true lists archived ones
	SortKey      string
	Desc         bool
	Limit        int
	After        *Cursor
}

// ParseDiscQuery validates the query parameters of the disc list.
func ParseDiscQuery(q url.Values, cursors CursorCodec) (DiscQuery, error) {
	v := fieldErrors{in: "query"}
	out := DiscQuery{SortKey: "created_at"}
	p := queryParser{q: q, v: &v, cursors: cursors}
	p.known("name", "artist", "style", "year", "year_from", "year_to", "in_stock", "archived", "sort", "limit", "cursor")
	out.Name, out.Artist, out.Style = p.text("name"), p.text("artist"), p.text("style")
	out.Year = p.year("year")
	out.YearFrom, out.YearTo = p.year("year_from"), p.year("year_to")
	if out.Year != 0 && (out.YearFrom != 0 || out.YearTo != 0) {
		v.add("year", "cannot be combined with year_from or year_to")
	}
	if out.YearFrom != 0 && out.YearTo != 0 && out.YearFrom > out.YearTo {
		v.add("year_from", "must not be after year_to")
	}
	out.InStock = p.boolean("in_stock")
	if a := p.boolean("archived"); a != nil {
		out.Archived = *a
	}
	if s := p.text("sort"); s != "" {
		out.Desc = strings.HasPrefix(s, "-")
		out.SortKey = strings.TrimPrefix(s, "-")
		if !slices.Contains(DiscSortKeys, out.SortKey) {
			v.add("sort", "must be one of %s, with an optional leading - for descending", strings.Join(DiscSortKeys, ", "))
		}
	}
	out.Limit = p.limit()
	out.After = p.cursor(out.Sort())
	return out, v.err()
}

// Sort is the sort order as ?sort= spells it ("name", "-release_year"); cursors carry it.
func (q DiscQuery) Sort() string {
	if q.Desc {
		return "-" + q.SortKey
	}
	return q.SortKey
}

// queryParser reads query parameters and records a field error for each bad one.
type queryParser struct {
	q       url.Values
	v       *fieldErrors
	cursors CursorCodec
}

func (p queryParser) known(names ...string) {
	for name, vals := range p.q {
		if !slices.Contains(names, name) {
			p.v.add(name, "is not a known parameter (known: %s)", strings.Join(names, ", "))
		} else if len(vals) > 1 {
			p.v.add(name, "must be given once")
		}
	}
}

// text reads a free-text parameter: valid text (textProblem), trimmed, at most MaxTextLen characters.
func (p queryParser) text(name string) string {
	s := p.q.Get(name)
	if msg := textProblem(s); msg != "" {
		p.v.add(name, "%s", msg)
		return ""
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxTextLen {
		p.v.add(name, "must be at most %d characters", MaxTextLen)
		return ""
	}
	return s
}

// boolean reads true or false, spelled so: strconv.ParseBool's 1, t, T and TRUE would give one filter many
// spellings.
func (p queryParser) boolean(name string) *bool {
	s := p.q.Get(name)
	if s == "" {
		return nil
	}
	if s != "true" && s != "false" {
		p.v.add(name, "must be true or false")
		return nil
	}
	b := s == "true"
	return &b
}

// year reads a release year written canonically (ParseID) within the catalog's range.
func (p queryParser) year(name string) int {
	s := p.q.Get(name)
	if s == "" {
		return 0
	}
	n, ok := ParseID(s)
	if !ok || n < MinReleaseYear || n > MaxReleaseYear {
		p.v.add(name, "must be a year between %d and %d", MinReleaseYear, MaxReleaseYear)
		return 0
	}
	return int(n)
}

// limit reads the page size written canonically (ParseID), 1 to MaxLimit.
func (p queryParser) limit() int {
	s := p.q.Get("limit")
	if s == "" {
		return DefaultLimit
	}
	n, ok := ParseID(s)
	if !ok || n > MaxLimit {
		p.v.add("limit", "must be a whole number from 1 to %d", MaxLimit)
		return DefaultLimit
	}
	return int(n)
}

// cursor decodes ?cursor= and checks it was made for the same sort order.
func (p queryParser) cursor(sort string) *Cursor {
	s := p.q.Get("cursor")
	if s == "" {
		return nil
	}
	c, ok := p.cursors.Decode(s, sort)
	if !ok {
		p.v.add("cursor", "is not a cursor of this list and sort order; use next_cursor as given")
		return nil
	}
	return &c
}
