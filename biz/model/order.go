package model

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Order statuses.
const (
	StatusConfirmed = "confirmed"
	StatusCancelled = "cancelled"
)

// Order is a customer's purchase of a quantity of one disc. Persisted tells whether the background writer has
// put it in Postgres yet; a confirmed order is visible either way.
type Order struct {
	ID             uuid.UUID `json:"id"`
	CustomerID     int64     `json:"customer_id"`
	DiscID         int64     `json:"disc_id"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	TotalCents     int64     `json:"total_cents"`
	Status         string    `json:"status"`
	ReservedAt     time.Time `json:"reserved_at"`
	Persisted      bool      `json:"persisted"`
	IdempotencyKey string    `json:"-"`
	// Stream position, for orders that came through Redis: partition and entry id.
	StreamPartition int    `json:"-"`
	StreamID        string `json:"-"`
}

// MaxQuantity bounds one order.
const MaxQuantity = 100

// OrderCreate is the body of POST /v1/orders.
type OrderCreate struct {
	CustomerID int64 `json:"customer_id"`
	DiscID     int64 `json:"disc_id"`
	Quantity   int   `json:"quantity"`
}

// Validate checks the ids and the quantity.
func (o *OrderCreate) Validate() error {
	v := fieldErrors{in: "body"}
	if o.CustomerID <= 0 {
		v.add("customer_id", "is required and must be a positive id")
	}
	if o.DiscID <= 0 {
		v.add("disc_id", "is required and must be a positive id")
	}
	if o.Quantity < 1 || o.Quantity > MaxQuantity {
		v.add("quantity", "must be between 1 and %d", MaxQuantity)
	}
	return v.err()
}

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ValidateIdempotencyKey checks the Idempotency-Key header: 1 to 64 of letters, digits and . _ : -.
func ValidateIdempotencyKey(key string) error {
	if key == "" || idempotencyKeyPattern.MatchString(key) {
		return nil
	}
	return &ValidationError{In: "header", Fields: []FieldError{{Field: "Idempotency-Key",
		Detail: "must be 1 to 64 letters, digits or . _ : -"}}}
}

// Fingerprint identifies the request an Idempotency-Key was first used for; a reuse with another body is refused.
func (o OrderCreate) Fingerprint() string {
	return fmt.Sprintf("%d:%d:%d", o.CustomerID, o.DiscID, o.Quantity)
}

// OrderQuery is the parsed query of GET /v1/orders.
type OrderQuery struct {
	CustomerID int64
	DiscID     int64
	Status     string
	From, To   *time.Time // reserved_at in [From, To)
	Limit      int
	After      *Cursor
}

// ParseOrderQuery validates the query parameters of the order list (newest first).
func ParseOrderQuery(q url.Values, cursors CursorCodec) (OrderQuery, error) {
	v := fieldErrors{in: "query"}
	out := OrderQuery{}
	p := queryParser{q: q, v: &v, cursors: cursors}
	p.known("customer_id", "disc_id", "status", "from", "to", "limit", "cursor")
	out.CustomerID = p.id("customer_id")
	out.DiscID = p.id("disc_id")
	if s := p.text("status"); s != "" {
		if s != StatusConfirmed && s != StatusCancelled {
			v.add("status", "must be confirmed or cancelled")
		}
		out.Status = s
	}
	out.From, out.To = p.time("from"), p.time("to")
	if out.From != nil && out.To != nil && !out.From.Before(*out.To) {
		v.add("from", "must be before to")
	}
	out.Limit = p.limit()
	out.After = p.cursor("-reserved_at")
	return out, v.err()
}

func (p queryParser) id(name string) int64 {
	s := p.q.Get(name)
	if s == "" {
		return 0
	}
	n, ok := ParseID(s)
	if !ok {
		p.v.add(name, "must be a positive id written in decimal digits")
	}
	return n
}

func (p queryParser) time(name string) *time.Time {
	s := p.q.Get(name)
	if s == "" {
		return nil
	}
	if t, ok := ParseTime(s); ok {
		return &t
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil && !d.Before(MinTime) {
		return &d
	}
	p.v.add(name, "must be an RFC 3339 time or a date (YYYY-MM-DD), between %s and %s in UTC",
		MinTime.Format(time.DateOnly), MaxTime.Format(time.DateOnly))
	return nil
}
