// Package model holds recordshop's vocabulary: the request and response types, their validation (CPF, email,
// list queries and signed cursors), and the domain errors that dal returns, services pass on and biz/problem
// maps to HTTP answers. Every layer imports it; it imports nothing of the project.
//
// It must not know how anything is stored or carried: no SQL, no Redis key or wire format (the order record
// on the streams is dal/redis'), no HTTP status (biz/problem's), no rule that needs a store.
package model

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when the thing asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConstraint is returned when Postgres refused a row by a CHECK constraint that validation should have
// caught first; it is a 422, never a 500.
var ErrConstraint = errors.New("constraint violated")

// ConflictError is a unique-constraint clash: the document or email of a customer is already taken.
type ConflictError struct {
	Constraint string
}

func (e *ConflictError) Error() string { return "conflict on " + e.Constraint }

// Field names the request field of a unique constraint, so the answer can say which field clashed.
func (e *ConflictError) Field() string {
	switch e.Constraint {
	case "customers_document_key":
		return "document"
	case "customers_email_key":
		return "email"
	}
	return ""
}

// InsufficientStockError refuses a stock change that would drive stock below zero.
type InsufficientStockError struct {
	Stock int64
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("stock would go below zero (stock is %d)", e.Stock)
}

// FieldError is one problem with one input field; Field is the JSON name (or query parameter).
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ValidationError lists every field problem of one request. In says where the fields were: "body" or "query".
type ValidationError struct {
	In     string
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Detail
	}
	return "invalid " + e.In + ": " + strings.Join(parts, "; ")
}

// fieldErrors collects field problems while a request is validated.
type fieldErrors struct {
	in     string
	fields []FieldError
}

func (v *fieldErrors) add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was added, so callers can `return v.err()`.
func (v *fieldErrors) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{In: v.in, Fields: v.fields}
}

// ErrArchived refuses a change to a disc that is no longer for sale.
var ErrArchived = errors.New("disc is archived")

// SoldOutError refuses an order for more units than are left.
type SoldOutError struct{ Left int64 }

func (e *SoldOutError) Error() string { return fmt.Sprintf("sold out: %d left", e.Left) }

// LimitError refuses an order over the per-customer limit.
type LimitError struct{ Limit, Left int64 }

func (e *LimitError) Error() string {
	return fmt.Sprintf("purchase limit: the customer may buy %d more", e.Left)
}

// StockLimitError refuses a restock that would take a disc's stock above MaxStock.
type StockLimitError struct{ Stock int64 }

func (e *StockLimitError) Error() string {
	return fmt.Sprintf("stock is %d; it may not exceed %d", e.Stock, MaxStock)
}

// NotStartedError refuses an order before the sale starts.
type NotStartedError struct{ StartsAt time.Time }

func (e *NotStartedError) Error() string { return "sale starts at " + e.StartsAt.Format(time.RFC3339) }

// BacklogError sheds load: too many confirmed orders wait for Postgres. Retry after RetryAfter.
type BacklogError struct{ RetryAfter time.Duration }

func (e *BacklogError) Error() string { return "order backlog over its bound" }

// NotPersistedError refuses to cancel an order the writer has not put in Postgres yet; retry shortly.
type NotPersistedError struct{ RetryAfter time.Duration }

func (e *NotPersistedError) Error() string { return "order not yet persisted" }

// ErrLimitAfterSales refuses a per-customer limit on a disc that has sold units without one: only units bought
// under a limit are counted per customer, so a limit is set before the sale.
var ErrLimitAfterSales = errors.New("the disc has sold units without a per-customer limit")

// ErrConcurrentChange refuses a change that lost a race with another change of the same row; retry it.
var ErrConcurrentChange = errors.New("changed concurrently; try again")

// ErrUnavailable marks a store that cannot be reached right now (a restart, a network cut): the request may
// succeed if repeated shortly, so it is a 503 with Retry-After, not a 500.
var ErrUnavailable = errors.New("store unavailable")

// ErrOutcomeUnknown marks a write whose answer never came (a timeout, a cut connection): it may or may not have
// happened. It is an ErrUnavailable; the client learns the outcome by repeating the request with the same
// Idempotency-Key.
var ErrOutcomeUnknown = fmt.Errorf("outcome unknown: %w", ErrUnavailable)

// ErrPartitionsDisagree means the stores were made for another Redis partition count than configured.
var ErrPartitionsDisagree = errors.New("partition counts disagree")

// Order path errors without data.
var (
	ErrCustomerInactive = errors.New("customer is deactivated")
	ErrUnknownDisc      = fmt.Errorf("unknown disc: %w", ErrNotFound)
	ErrUnknownCustomer  = fmt.Errorf("unknown customer: %w", ErrNotFound)
	ErrKeyReused        = errors.New("Idempotency-Key reused with another request")
)
