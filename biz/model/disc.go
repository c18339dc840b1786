package model

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// Disc is a record for sale. Stock is the Postgres ledger's count; Available is what can be sold right now
// (the live count of the order path) unless Availability says it is unknown: the live count could not be
// read, Available is then whatever it was before (the ledger's stock, which on a launch day is far from what
// is left), and the API writes it as null (DiscAnswer).
type Disc struct {
	ID               int64        `json:"id"`
	Name             string       `json:"name"`
	Artist           string       `json:"artist"`
	ReleaseYear      int          `json:"release_year"`
	Style            string       `json:"style"`
	PriceCents       int64        `json:"price_cents"`
	Stock            int64        `json:"stock"`
	Available        int64        `json:"available"`
	Availability     Availability `json:"availability"`
	StockVersion     int64        `json:"-"`
	SaleStartsAt     time.Time    `json:"sale_starts_at"`
	PerCustomerLimit int          `json:"per_customer_limit"`
	Archived         bool         `json:"archived"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
}

// DiscAnswer is a disc as the API writes it: Disc, with available null when its availability is unknown,
// so that a client that reads available alone gets no number rather than a wrong one. Both members are
// plain fields that hide Disc's, rather than a MarshalJSON: catalog reads are hot, and a marshaller costs
// each disc a second encoding pass.
type DiscAnswer struct {
	Disc
	Available    *int64 `json:"available"` // points at Disc's count when it is live
	Availability string `json:"availability"`
}

// Answer is d as the API writes it.
func (d Disc) Answer() *DiscAnswer {
	a := &DiscAnswer{Disc: d}
	a.fill()
	return a
}

// AnswerDiscs is a page of discs as the API writes it.
func AnswerDiscs(l List[Disc]) List[DiscAnswer] {
	out := List[DiscAnswer]{Items: make([]DiscAnswer, len(l.Items)), NextCursor: l.NextCursor, Next: l.Next}
	for i, d := range l.Items {
		out.Items[i].Disc = d
		out.Items[i].fill()
	}
	return out
}

func (a *DiscAnswer) fill() {
	a.Availability = a.Disc.Availability.String()
	if a.Disc.Availability != AvailabilityUnknown {
		a.Available = &a.Disc.Available
	}
}

// Availability says where a disc's available count comes from.
type Availability uint8

const (
	// AvailabilityLive: available is the live count of the order path (Redis' in Redis mode, Postgres' stock
	// in Postgres mode), or 0 for an archived disc.
	AvailabilityLive Availability = iota
	// AvailabilityUnknown: the live count could not be read (Redis is down or unreachable); Available is not
	// it, and is answered as null.
	AvailabilityUnknown
)

func (a Availability) String() string {
	if a == AvailabilityUnknown {
		return "unknown"
	}
	return "live"
}

// MarshalText writes the availability as "live" or "unknown".
func (a Availability) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads "live" or "unknown".
func (a *Availability) UnmarshalText(b []byte) error {
	switch string(b) {
	case "live":
		*a = AvailabilityLive
	case "unknown":
		*a = AvailabilityUnknown
	default:
		return fmt.Errorf("availability %q is neither live nor unknown", b)
	}
	return nil
}

// Limits of disc fields, shared by validation and the OpenAPI document.
const (
	MinReleaseYear   = 1860
	MaxReleaseYear   = 2100
	MaxPriceCents    = 100_000_000
	MaxStock         = 10_000_000
	MaxCustomerLimit = 1_000
)

// DiscCreate is the body of POST /v1/discs. Absent sale_starts_at means on sale now; per_customer_limit 0 (the
// default) means no limit.
type DiscCreate struct {
	Name             string  `json:"name"`
	Artist           string  `json:"artist"`
	ReleaseYear      int     `json:"release_year"`
	Style            string  `json:"style"`
	PriceCents       *int64  `json:"price_cents"`
	Stock            int64   `json:"stock"`
	SaleStartsAt     *string `json:"sale_starts_at"`
	PerCustomerLimit int     `json:"per_customer_limit"`

	// StartsAt is SaleStartsAt parsed by Validate (now when absent).
	StartsAt time.Time `json:"-"`
}

// Validate checks every field, trims the texts and parses sale_starts_at into StartsAt.
func (d *DiscCreate) Validate(now time.Time) error {
	v := fieldErrors{in: "body"}
	d.Name = checkName(&v, "name", d.Name)
	d.Artist = checkName(&v, "artist", d.Artist)
	d.Style = checkStyle(&v, d.Style)
	checkYear(&v, d.ReleaseYear)
	if d.PriceCents == nil {
		v.add("price_cents", "is required")
	} else {
		checkRange(&v, "price_cents", *d.PriceCents, 0, MaxPriceCents)
	}
	checkRange(&v, "stock", d.Stock, 0, MaxStock)
	checkRange(&v, "per_customer_limit", int64(d.PerCustomerLimit), 0, MaxCustomerLimit)
	d.StartsAt = now
	if d.SaleStartsAt != nil {
		d.StartsAt = checkTime(&v, "sale_starts_at", *d.SaleStartsAt)
	}
	return v.err()
}

// DiscPatch is the body of PATCH /v1/discs/{id}: absent fields keep their value. Setting stock records an
// "adjust" stock event for the difference.
type DiscPatch struct {
	Name             *string `json:"name"`
	Artist           *string `json:"artist"`
	ReleaseYear      *int    `json:"release_year"`
	Style            *string `json:"style"`
	PriceCents       *int64  `json:"price_cents"`
	Stock            *int64  `json:"stock"`
	SaleStartsAt     *string `json:"sale_starts_at"`
	PerCustomerLimit *int    `json:"per_customer_limit"`

	// StartsAt is SaleStartsAt parsed by Validate.
	StartsAt *time.Time `json:"-"`
}

// Validate checks and normalises the fields that are present.
func (p *DiscPatch) Validate() error {
	v := fieldErrors{in: "body"}
	if p.Name == nil && p.Artist == nil && p.ReleaseYear == nil && p.Style == nil && p.PriceCents == nil &&
		p.Stock == nil && p.SaleStartsAt == nil && p.PerCustomerLimit == nil {
		v.add("", "give at least one field to change")
	}
	if p.Name != nil {
		*p.Name = checkName(&v, "name", *p.Name)
	}
	if p.Artist != nil {
		*p.Artist = checkName(&v, "artist", *p.Artist)
	}
	if p.Style != nil {
		*p.Style = checkStyle(&v, *p.Style)
	}
	if p.ReleaseYear != nil {
		checkYear(&v, *p.ReleaseYear)
	}
	if p.PriceCents != nil {
		checkRange(&v, "price_cents", *p.PriceCents, 0, MaxPriceCents)
	}
	if p.Stock != nil {
		checkRange(&v, "stock", *p.Stock, 0, MaxStock)
	}
	if p.PerCustomerLimit != nil {
		checkRange(&v, "per_customer_limit", int64(*p.PerCustomerLimit), 0, MaxCustomerLimit)
	}
	if p.SaleStartsAt != nil {
		t := checkTime(&v, "sale_starts_at", *p.SaleStartsAt)
		p.StartsAt = &t
	}
	return v.err()
}

// Restock is the body of POST /v1/discs/{id}/restock. A negative delta takes units out (a count correction);
// it is refused when it would drive stock below zero.
type Restock struct {
	Delta int64 `json:"delta"`
}

// Validate checks the delta.
func (r *Restock) Validate() error {
	v := fieldErrors{in: "body"}
	if r.Delta == 0 {
		v.add("delta", "must not be zero")
	} else {
		checkRange(&v, "delta", r.Delta, -MaxStock, MaxStock)
	}
	return v.err()
}

func checkStyle(v *fieldErrors, s string) string {
	s = checkName(v, "style", s)
	if utf8.RuneCountInString(s) > 60 {
		v.add("style", "must be at most 60 characters")
	}
	return s
}

func checkYear(v *fieldErrors, year int) {
	if year == 0 {
		v.add("release_year", "is required")
		return
	}
	checkRange(v, "release_year", int64(year), MinReleaseYear, MaxReleaseYear)
}

func checkRange(v *fieldErrors, field string, n, lo, hi int64) {
	if n < lo || n > hi {
		v.add(field, "must be between %d and %d", lo, hi)
	}
}

func checkTime(v *fieldErrors, field, s string) time.Time {
	t, ok := ParseTime(s)
	if !ok {
		v.add(field, "must be an RFC 3339 time like 2026-12-01T12:00:00Z, between %s and %s in UTC",
			MinTime.Format(time.DateOnly), MaxTime.Format(time.DateOnly))
	}
	return t
}

// StockGuard checks a change that takes units away (delta < 0) against the live stock before Postgres commits
// it: it runs inside the transaction with the disc at its new version, and its error rolls the change back.
// A guard that returns nil has applied the change to Redis, so the stock event is recorded as applied.
type StockGuard func(ctx context.Context, d Disc, delta int64) error
