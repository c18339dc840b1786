// Package problem writes RFC 9457 problem+json answers and maps recordshop's domain errors to them, in one
// place, so every endpoint answers the same kind of failure the same way. It owns the error-to-status mapping,
// the list of kinds the API answers (Kinds, from which README.md's and the OpenAPI document's error tables
// are generated) and the rule that a 500 logs its cause and answers a generic message.
//
// It must not decide what is an error (services and dal do, with biz/model's errors) nor know a route or a
// store: a new failure is a new model error mapped here, never a status chosen in a handler.
package problem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cloudwego/hertz/pkg/app"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
)

// TypePrefix starts every problem type URI; the rest is the stable kind (e.g. "validation").
const TypePrefix = "urn:recordshop:problem:"

// ContentType is the media type of every error answer.
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object, with field-level errors for validation failures.
type Problem struct {
	Type     string             `json:"type"`
	Title    string             `json:"title"`
	Status   int                `json:"status"`
	Detail   string             `json:"detail,omitempty"`
	Instance string             `json:"instance,omitempty"`
	Errors   []model.FieldError `json:"errors,omitempty"`

	// Extra members of a kind (units_left, starts_at, ...), written beside the standard ones.
	Extra map[string]any `json:"-"`
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration `json:"-"`

	// memo: the body depends on Instance alone, so Write may send the bytes it encoded for the last such
	// problem with the same Instance.
	memo bool
}

// noneLeft is the sold-out answer of a disc with no units left: what most requests of a launch get once it
// sold out, tens of thousands a second. From hands out copies (sharing Extra, which nothing changes).
var noneLeft = soldOutProblem(0)

func soldOutProblem(left int64) *Problem {
	q := New(http.StatusConflict, "sold-out", "Sold out", "Only "+strconv.FormatInt(left, 10)+" left.")
	q.Extra = map[string]any{"units_left": left}
	return q
}

// memoBody is the body Write last encoded for a memo problem, and that problem's Instance.
type memoBody struct {
	instance string
	body     []byte
}

var lastMemo atomic.Pointer[memoBody]

// New makes a problem of kind with its status and title.
func New(status int, kind, title, detail string) *Problem {
	return &Problem{Type: TypePrefix + kind, Title: title, Status: status, Detail: detail}
}

func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// Write answers p, with the request path as its instance, in place of any body already written.
func Write(c *app.RequestContext, p *Problem) {
	if p.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(max(p.RetryAfter.Round(time.Second), time.Second)/time.Second)))
	}
	c.Response.ResetBody()
	c.Data(p.Status, ContentType, encodeOnce(p, c.Request.URI().Path())) // Data copies the bytes: a shared body stays unchanged
}

// encodeOnce is Encode(p), its Instance the request's path when it has none; a memo problem reuses the last
// body encoded for the same Instance (and then needs no string of the path: Go compares string(path) in place).
func encodeOnce(p *Problem, path []byte) []byte {
	if p.memo {
		m := lastMemo.Load()
		if m != nil && (p.Instance == "" && m.instance == string(path) || p.Instance != "" && m.instance == p.Instance) {
			return m.body
		}
	}
	if p.Instance == "" {
		p.Instance = string(path)
	}
	if !p.memo {
		return Encode(p)
	}
	body := Encode(p)
	lastMemo.Store(&memoBody{instance: p.Instance, body: body})
	return body
}

// Encode is p's JSON body: its standard members, then its extra ones in key order, then a newline, byte for
// byte what encoding/json writes with HTML escaping off (FuzzEncode holds it to that). It is written by hand:
// a sold-out storm answers this body tens of thousands of times a second, and reflection over the struct and
// a map of the extra members cost more than the rest of the refusal's handler.
func Encode(p *Problem) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"type":`...)
	b = appendString(b, p.Type)
	b = append(b, `,"title":`...)
	b = appendString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, p.Detail)
	}
	if p.Instance != "" {
		b = append(b, `,"instance":`...)
		b = appendString(b, p.Instance)
	}
	if len(p.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, e := range p.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"field":`...)
			b = appendString(b, e.Field)
			b = append(b, `,"detail":`...)
			b = appendString(b, e.Detail)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	keys := slices.Collect(maps.Keys(p.Extra))
	if len(keys) > 1 {
		slices.Sort(keys)
	}
	for _, k := range keys {
		v, ok := appendValue(nil, p.Extra[k])
		if !ok {
			continue // extra members are numbers, strings and times
		}
		b = append(appendString(append(b, ','), k), ':')
		b = append(b, v...)
	}
	return append(b, '}', '\n')
}

// appendValue appends v's JSON to dst: the types extra members have without reflection, anything else
// through encoding/json; ok is false when v has no JSON form.
func appendValue(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return appendString(dst, v), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, false
	}
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...), true
}

// appendString appends s as a JSON string the way encoding/json does with HTML escaping off: quote, backslash
// and control characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped (JavaScript
// reads them as line ends), everything else as it is.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

// ForStatus is the problem for an error status that no handler explained: the framework's refusals of a
// request it could not read, and any other bare status.
func ForStatus(status int, detail string) *Problem {
	var p *Problem
	switch status {
	case http.StatusBadRequest:
		p = New(status, "malformed-request", "Malformed request", "The request could not be read as HTTP/1.1.")
	case http.StatusNotFound:
		p = New(status, "not-found", "Not found", "No such endpoint.")
	case http.StatusMethodNotAllowed:
		p = New(status, "method-not-allowed", "Method not allowed", "This endpoint does not take that method.")
	case http.StatusRequestTimeout:
		p = New(status, "request-timeout", "Request timeout", "The request did not arrive in time.")
	case http.StatusRequestEntityTooLarge:
		p = New(status, "body-too-large", "Request body too large", "The body is larger than this API accepts.")
	case http.StatusRequestHeaderFieldsTooLarge:
		p = New(status, "headers-too-large", "Request headers too large", "The request line and headers are larger than this API accepts.")
	case http.StatusUnsupportedMediaType:
		p = New(status, "unsupported-media-type", "Unsupported media type", "Send the body as application/json.")
	default:
		if status >= 500 {
			p = New(status, "internal", "Internal error", "Something went wrong on our side; it has been logged.")
		} else {
			// Not through New: the kind is built from the status (Kinds lists the family as HTTPFamily), and
			// every kind that New is given is a literal the tests find in Kinds.
			p = &Problem{Type: TypePrefix + "http-" + strconv.Itoa(status), Title: http.StatusText(status), Status: status}
		}
	}
	if detail != "" {
		p.Detail = detail
	}
	return p
}

// From maps an error from bind, validation, a service or dal to the problem a client should see. Anything it
// does not know is a 500 whose cause stays in the log, never in the answer.
func From(err error) *Problem {
	// The sold-out storm's answer first, without errors.As: most requests of a launch that sold out end here,
	// tens of thousands a second. It comes before from's variables, which errors.As moves to the heap: ten
	// allocations per refusal for nothing.
	if so, ok := err.(*model.SoldOutError); ok {
		return soldOutFor(so)
	}
	return from(err)
}

// soldOutFor is the problem of a sold-out refusal: the no-units-left one encoded once and reused.
func soldOutFor(so *model.SoldOutError) *Problem {
	if so.Left == 0 {
		q := *noneLeft
		q.memo = true
		return &q
	}
	return soldOutProblem(so.Left)
}

// from is From for every error but a bare *model.SoldOutError.
func from(err error) *Problem {
	var (
		p        *Problem
		invalid  *model.ValidationError
		conflict *model.ConflictError
		short    *model.InsufficientStockError
		ceiling  *model.StockLimitError
		soldOut  *model.SoldOutError
		limit    *model.LimitError
		early    *model.NotStartedError
		backlog  *model.BacklogError
		waiting  *model.NotPersistedError
	)
	switch {
	case errors.As(err, &soldOut):
		return soldOutFor(soldOut)
	case errors.As(err, &p):
		return p
	case errors.As(err, &invalid):
		if q := invalidInput(invalid); q != nil {
			return q
		}
		// a place invalidInput does not know: a bug, answered as one below
	case errors.As(err, &limit):
		q := New(http.StatusConflict, "purchase-limit", "Purchase limit reached", fmt.Sprintf("This customer may buy %d more of this disc.", limit.Left))
		q.Extra = map[string]any{"units_allowed": limit.Left}
		return q
	case errors.As(err, &early):
		q := New(http.StatusConflict, "sale-not-started", "Sale not started", "The sale starts at "+early.StartsAt.Format(time.RFC3339)+".")
		q.Extra = map[string]any{"starts_at": early.StartsAt.Format(time.RFC3339)}
		return q
	case errors.Is(err, model.ErrCustomerInactive):
		return New(http.StatusForbidden, "customer-inactive", "Customer inactive", "A deactivated customer cannot buy.")
	case errors.Is(err, model.ErrUnknownDisc):
		return New(http.StatusNotFound, "not-found", "Unknown disc", "No disc on sale with this id.")
	case errors.Is(err, model.ErrUnknownCustomer):
		return New(http.StatusNotFound, "not-found", "Unknown customer", "No customer with this id.")
	case errors.Is(err, model.ErrKeyReused):
		q := New(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			"This Idempotency-Key was used for another request; use a new key.")
		q.Errors = []model.FieldError{{Field: "Idempotency-Key", Detail: "was used for another request"}}
		return q
	case errors.As(err, &backlog):
		q := New(http.StatusServiceUnavailable, "backlog", "Busy", "Too many orders wait to be recorded; retry shortly.")
		q.RetryAfter = backlog.RetryAfter
		return q
	case errors.As(err, &waiting):
		q := New(http.StatusConflict, "order-not-persisted", "Order not yet recorded", "The order is still being recorded; retry shortly.")
		q.RetryAfter = waiting.RetryAfter
		return q
	case errors.Is(err, model.ErrNotFound):
		return New(http.StatusNotFound, "not-found", "Not found", "No such resource.")
	case errors.As(err, &conflict):
		q := New(http.StatusConflict, "conflict", "Already taken", "Another record already uses this value.")
		if f := conflict.Field(); f != "" {
			q.Errors = []model.FieldError{{Field: f, Detail: "is already registered"}}
		}
		return q
	case errors.As(err, &ceiling):
		q := New(http.StatusConflict, "stock-limit", "Stock limit", ceiling.Error()+".")
		q.Extra = map[string]any{"stock": ceiling.Stock, "max_stock": model.MaxStock}
		return q
	case errors.As(err, &short):
		return New(http.StatusConflict, "insufficient-stock", "Not enough stock", short.Error())
	case errors.Is(err, model.ErrArchived):
		return New(http.StatusConflict, "disc-archived", "Disc archived", "The disc is archived and can no longer change.")
	case errors.Is(err, model.ErrLimitAfterSales):
		return New(http.StatusConflict, "limit-after-sales", "Limit after sales",
			"The disc has sold units without a per-customer limit; set a limit before a sale.")
	case errors.Is(err, model.ErrConcurrentChange):
		q := New(http.StatusConflict, "concurrent-change", "Changed concurrently", "Another change of the same record won the race; repeat the request.")
		q.RetryAfter = time.Second
		return q
	case errors.Is(err, model.ErrConstraint):
		return New(http.StatusUnprocessableEntity, "validation", "The request body is not valid", "A value is out of its allowed range.")
	case errors.Is(err, model.ErrPartitionsDisagree):
		return New(http.StatusConflict, "partitions-disagree", "Partition counts disagree", err.Error())
	case errors.Is(err, model.ErrOutcomeUnknown):
		q := New(http.StatusServiceUnavailable, "unavailable", "Temporarily unavailable",
			"The order may or may not have been placed. Retry with the same Idempotency-Key: that returns the order "+
				"if it was placed and never places it twice. Without a key, look up the customer's orders before buying again.")
		q.RetryAfter = time.Second
		return q
	case errors.Is(err, model.ErrUnavailable):
		q := New(http.StatusServiceUnavailable, "unavailable", "Temporarily unavailable", "A store is restarting or unreachable; retry shortly.")
		q.RetryAfter = time.Second
		return q
	case errors.Is(err, context.Canceled):
		// The client went away; 499 is what proxies log for that, and nobody reads the body.
		return New(499, "client-closed", "Client closed the request", "")
	}
	return New(http.StatusInternalServerError, "internal", "Internal error", "Something went wrong on our side; it has been logged.")
}

// invalidInput is the problem of a validation error by where its fields were; nil for a place it does not
// know, which From answers as the bug it is (500): a kind made up from the place would be one that Kinds,
// and so the documents, do not list.
func invalidInput(v *model.ValidationError) *Problem {
	var q *Problem
	const title, detail = "The request has invalid %s parameters", "See errors for each parameter."
	switch v.In {
	case "body":
		q = New(http.StatusUnprocessableEntity, "validation", "The request body is not valid", "See errors for each field.")
	case "query":
		q = New(http.StatusBadRequest, "invalid-query", fmt.Sprintf(title, v.In), detail)
	case "path":
		q = New(http.StatusBadRequest, "invalid-path", fmt.Sprintf(title, v.In), detail)
	case "header":
		q = New(http.StatusBadRequest, "invalid-header", fmt.Sprintf(title, v.In), detail)
	default:
		return nil
	}
	q.Errors = v.Fields
	return q
}

// Respond writes the problem for err, logging the cause of a 5xx with the route (never the body: no PII).
func Respond(c *app.RequestContext, log *zap.Logger, err error) {
	p := From(err)
	if p.Status >= 500 {
		log.Error("request failed", zap.String("route", c.FullPath()), zap.Error(err))
	}
	Write(c, p)
}
