package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// OrderStore is what the order service needs from the Postgres orders repository.
type OrderStore interface {
	Get(ctx context.Context, id uuid.UUID) (model.Order, error)
	List(ctx context.Context, q model.OrderQuery) (model.List[model.Order], error)
	Cancel(ctx context.Context, id uuid.UUID) (model.Order, bool, error)
	PlaceDirect(ctx context.Context, o model.Order, idemTTL time.Duration) (model.Order, bool, error)
}

// CustomerGetter looks a customer up (the positive cache's source).
type CustomerGetter interface {
	Get(ctx context.Context, id int64) (model.Customer, error)
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
}

// Orders places, finds, lists and cancels orders. In Redis mode (gate set) an order costs one Redis round trip
// and, once a customer is known, no Postgres round trip; in Postgres mode (gate nil) it is one transaction.
type Orders struct {
	store     OrderStore
	customers CustomerGetter
	gate      *rsredis.Gate // nil in Postgres mode
	relay     *Relay        // nil in Postgres mode
	cfg       OrderConfig
	now       func() time.Time
	known     customerSet
}

// NewOrders returns the order service; gate and relay are nil in Postgres mode.
func NewOrders(store OrderStore, customers CustomerGetter, gate *rsredis.Gate, relay *Relay, cfg OrderConfig, now func() time.Time) *Orders {
	return &Orders{store: store, customers: customers, gate: gate, relay: relay, cfg: cfg, now: now}
}

// Place buys in.Quantity units of a disc for a customer. It returns the order and whether it is the recorded
// answer of an earlier request with the same Idempotency-Key.
func (s *Orders) Place(ctx context.Context, in model.OrderCreate, idemKey string) (model.Order, bool, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return model.Order{}, false, err
	}
	o := model.Order{ID: id, CustomerID: in.CustomerID, DiscID: in.DiscID, Quantity: in.Quantity,
		ReservedAt: s.now().UTC().Truncate(time.Millisecond), IdempotencyKey: idemKey, Status: model.StatusConfirmed}
	if s.gate == nil {
		return s.store.PlaceDirect(ctx, o, s.cfg.IdempotencyTTL)
	}
	if err := s.customerExists(ctx, in.CustomerID); err != nil {
		return model.Order{}, false, err
	}
	fingerprint := ""
	if idemKey != "" {
		fingerprint = in.Fingerprint()
	}
	rctx, cancel := s.redisContext(ctx)
	defer cancel()
	// A timeout here is model.ErrOutcomeUnknown: the reservation may have happened, and the answer tells the
	// buyer to retry with the same Idempotency-Key, which replays it rather than sells twice.
	res, err := s.gate.Reserve(rctx, rsredis.Reservation{Order: o, Fingerprint: fingerprint,
		IdemTTL: s.cfg.IdempotencyTTL, MaxBacklog: s.cfg.MaxBacklog})
	if err != nil {
		return model.Order{}, false, err
	}
	switch res.Code {
	case rsredis.Reserved:
		return res.Order, false, nil
	case rsredis.Replayed:
		return res.Order, true, nil
	case rsredis.SoldOut:
		return model.Order{}, false, &model.SoldOutError{Left: res.Value}
	case rsredis.OverLimit:
		return model.Order{}, false, &model.LimitError{Left: res.Value}
	case rsredis.NotStarted:
		return model.Order{}, false, &model.NotStartedError{StartsAt: time.UnixMilli(res.Value).UTC()}
	case rsredis.Inactive:
		return model.Order{}, false, model.ErrCustomerInactive
	case rsredis.NoDisc:
		return model.Order{}, false, model.ErrUnknownDisc
	case rsredis.KeyReused:
		return model.Order{}, false, model.ErrKeyReused
	case rsredis.Backlog:
		return model.Order{}, false, &model.BacklogError{RetryAfter: time.Second}
	}
	return model.Order{}, false, fmt.Errorf("reserve.lua answered %d", res.Code)
}

// redisContext bounds one Redis call of the order path by RedisTimeout.
func (s *Orders) redisContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.RedisTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.RedisTimeout)
}

// customerExists checks a customer once per process: customers are never deleted, so a positive answer is
// cached for good and the steady state costs no Postgres round trip. Deactivation is checked in Redis.
func (s *Orders) customerExists(ctx context.Context, id int64) error {
	if s.known.has(id) {
		return nil
	}
	if _, err := s.customers.Get(ctx, id); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return model.ErrUnknownCustomer
		}
		return err
	}
	s.known.add(id)
	return nil
}

// WarmCustomers fills the positive cache with every customer that exists now (at start-up), so a launch of
// customers who signed up before it costs no Postgres round trip at all.
func (s *Orders) WarmCustomers(ctx context.Context, ids func(ctx context.Context, each func(id int64)) error) error {
	return ids(ctx, s.known.add)
}

// Get finds an order, whether or not it has reached Postgres yet: Redis' pending orders first (an order leaves
// them only after Postgres committed it), then Postgres.
func (s *Orders) Get(ctx context.Context, id uuid.UUID) (model.Order, error) {
	if s.gate != nil {
		rctx, cancel := s.redisContext(ctx)
		o, ok, err := s.gate.PendingOrder(rctx, id.String())
		cancel()
		if err != nil {
			return model.Order{}, err
		}
		if ok {
			return o, nil
		}
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
			if changed && s.relay != nil {
				// The units reach Redis now; if this fails the relay retries from the outbox.
				_ = s.relay.SyncDisc(ctx, o.DiscID)
			}
			return o, nil
		}
		if !errors.Is(err, model.ErrNotFound) || s.gate == nil {
			return model.Order{}, err
		}
		rctx, cancel := s.redisContext(ctx)
		_, pending, perr := s.gate.PendingOrder(rctx, id.String())
		cancel()
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
