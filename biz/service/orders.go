package service

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
)

// OrderStore is what the order service needs from the Postgres orders repository.
type OrderStore interface {
	Get(ctx context.Context, id uuid.UUID) (model.Order, error)
	List(ctx context.Context, q model.OrderQuery) (model.List[model.Order], error)
	Cancel(ctx context.Context, id uuid.UUID) (model.Order, bool, error)
}

// Reserver takes the units of an order in one atomic step and records the order. It is the reservation mode,
// chosen when the shop is wired: RedisReserver (reserve.lua, one Redis round trip; the writer brings the order
// to Postgres later) or PostgresReserver (one Postgres transaction).
type Reserver interface {
	// Reserve takes o's units and records o, which it names (o.ID, a new UUIDv7) once it is to be reserved: a
	// refusal, the sold-out storm's answer above all, costs no id. It returns the order and whether it is the
	// recorded answer of an earlier request with the same Idempotency-Key (o.IdempotencyKey). A refusal is a
	// model error: *model.SoldOutError, *model.LimitError, *model.NotStartedError, *model.BacklogError,
	// model.ErrCustomerInactive, model.ErrUnknownDisc, model.ErrUnknownCustomer or model.ErrKeyReused.
	Reserve(ctx context.Context, o model.Order) (model.Order, bool, error)
	// Pending finds a confirmed order that is not in Postgres yet; ok is false when there is none with id.
	Pending(ctx context.Context, id uuid.UUID) (o model.Order, ok bool, err error)
}

// StockSync carries a disc's committed stock changes to the count that sells (LiveStock).
type StockSync interface {
	Sync(ctx context.Context, discID int64) error
}

// OrderConfig tunes the order path.
type OrderConfig struct {
	// IdempotencyTTL is how long an Idempotency-Key answer is kept (24 h).
	IdempotencyTTL time.Duration
	// MaxBacklog bounds the confirmed orders per partition that wait for Postgres; past it orders get 503.
	MaxBacklog int
	// CancelWait is how long a cancel of an order not yet in Postgres waits for the writer before 409.
	CancelWait time.Duration
	// RedisTimeout bounds each Redis call of the order path, the client's own resends included; past it the
	// buyer gets 503 + Retry-After instead of a hung request. 0 = no bound.
	RedisTimeout time.Duration
	// SoldOutHold is how long a process answers a disc's orders sold out without asking Redis, after Redis
	// answered one sold out with no unit left: the longest a restock made through another process can go
	// unseen by this one. 0 = always ask Redis.
	SoldOutHold time.Duration
}

// Orders places, finds, lists and cancels orders. What a placement costs is the Reserver's: in Redis mode one
// Redis round trip and, once a customer is known, no Postgres round trip; in Postgres mode one transaction.
type Orders struct {
	store   OrderStore
	reserve Reserver
	stock   StockSync
	cfg     OrderConfig
	now     func() time.Time
}

// NewOrders returns the order service: orders are reserved by reserve, and the units a cancel gives back
// reach the count that sells through stock.
func NewOrders(store OrderStore, reserve Reserver, stock StockSync, cfg OrderConfig, now func() time.Time) *Orders {
	return &Orders{store: store, reserve: reserve, stock: stock, cfg: cfg, now: now}
}

// Place buys in.Quantity units of a disc for a customer. It returns the order and whether it is the recorded
// answer of an earlier request with the same Idempotency-Key.
func (s *Orders) Place(ctx context.Context, in model.OrderCreate, idemKey string) (model.Order, bool, error) {
	o := model.Order{CustomerID: in.CustomerID, DiscID: in.DiscID, Quantity: in.Quantity,
		ReservedAt: s.now().UTC().Truncate(time.Millisecond), IdempotencyKey: idemKey, Status: model.StatusConfirmed}
	return s.reserve.Reserve(ctx, o)
}

// Get finds an order, whether or not it has reached Postgres yet: the pending orders first (an order leaves
// them only after Postgres committed it), then Postgres.
func (s *Orders) Get(ctx context.Context, id uuid.UUID) (model.Order, error) {
	o, ok, err := s.reserve.Pending(ctx, id)
	if err != nil {
		return model.Order{}, err
	}
	if ok {
		return o, nil
	}
	return s.store.Get(ctx, id)
}

// List returns one page of orders from Postgres.
func (s *Orders) List(ctx context.Context, q model.OrderQuery) (model.List[model.Order], error) {
	return s.store.List(ctx, q)
}

// Cancel cancels a confirmed order once and gives its units back to the disc and to the customer's limit. A
// cancelled order is returned unchanged. An order still on its way to Postgres is waited for briefly, then
// refused with a retry hint.
func (s *Orders) Cancel(ctx context.Context, id uuid.UUID) (model.Order, error) {
	deadline := s.now().Add(s.cfg.CancelWait)
	for {
		o, changed, err := s.store.Cancel(ctx, id)
		if err == nil {
			if changed {
				// The units reach the count that sells now; if this fails the relay retries from the outbox.
				_ = s.stock.Sync(ctx, o.DiscID)
			}
			return o, nil
		}
		if !errors.Is(err, model.ErrNotFound) {
			return model.Order{}, err
		}
		_, pending, perr := s.reserve.Pending(ctx, id)
		if perr != nil {
			return model.Order{}, perr
		}
		if !pending {
			if _, err2 := s.store.Get(ctx, id); err2 == nil {
				continue // flushed between the two looks
			}
			return model.Order{}, err
		}
		if !s.now().Before(deadline) {
			return model.Order{}, &model.NotPersistedError{RetryAfter: time.Second}
		}
		select {
		case <-ctx.Done():
			return model.Order{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
