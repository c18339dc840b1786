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

// The two reservation modes: each is a Reserver, and the shop is wired with one of them.

// ReserveGate is what RedisReserver needs from the Redis stock gate (*rsredis.Gate): reserve.lua, and the
// pending orders it records until the writer has them in Postgres.
type ReserveGate interface {
	Reserve(ctx context.Context, r rsredis.Reservation) (rsredis.ReserveResult, error)
	// Answered is the answer Redis keeps for a request with an Idempotency-Key: Replayed, KeyReused, or
	// ok false when the key was not used.
	Answered(ctx context.Context, r rsredis.Reservation) (rsredis.ReserveResult, bool, error)
	PendingOrder(ctx context.Context, id string) (model.Order, bool, error)
}

// CustomerGetter looks a customer up (the positive cache's source).
type CustomerGetter interface {
	Get(ctx context.Context, id int64) (model.Customer, error)
}

// BuyerUnitsReader reads a customer's units of a disc from Postgres' running totals, with the disc's stock
// version in the same snapshot (*pg.Discs).
type BuyerUnitsReader interface {
	BuyerUnits(ctx context.Context, discID, customerID int64) (model.BuyerUnits, error)
}

// RedisReserver reserves in Redis: reserve.lua checks the disc, the customer's state and limit and the
// stock, takes the units and appends the order to its partition's stream, in one atomic step and one round
// trip. Redis cannot see Postgres' customers, so a customer's existence is checked first, once per process.
// Nor does Redis hold every past buyer of a disc with a long history (see reserve.lua's known flag): the
// first order of such a buyer reads their units from Postgres once, and Redis keeps them from then on.
type RedisReserver struct {
	gate      ReserveGate
	customers CustomerGetter
	units     BuyerUnitsReader
	cfg       OrderConfig // IdempotencyTTL, MaxBacklog, RedisTimeout, SoldOutHold
	known     customerSet
	soldOut   *soldOut
}

// NewRedisReserver returns the Redis reservation mode.
func NewRedisReserver(gate ReserveGate, customers CustomerGetter, units BuyerUnitsReader, cfg OrderConfig) *RedisReserver {
	return &RedisReserver{gate: gate, customers: customers, units: units, cfg: cfg, soldOut: newSoldOut(cfg.SoldOutHold)}
}

// UnitsBack tells the reserver that a disc got units back through this process (a restock, cancel or adjust
// the relay applied): its sold-out mark goes at once.
func (r *RedisReserver) UnitsBack(discID int64) { r.soldOut.clear(discID) }

// UseClock makes the sold-out marks read now instead of the wall clock (tests).
func (r *RedisReserver) UseClock(now func() time.Time) { r.soldOut.now = now }

// unitsAttempts bounds the reservations of one order that ask Postgres for the buyer's units: each attempt
// can find Redis and Postgres at different stock versions while a change of the disc is between them.
const unitsAttempts = 4

// Reserve implements Reserver.
func (r *RedisReserver) Reserve(ctx context.Context, o model.Order) (model.Order, bool, error) {
	if err := r.customerExists(ctx, o.CustomerID); err != nil {
		return model.Order{}, false, err
	}
	fingerprint := ""
	if o.IdempotencyKey != "" {
		fingerprint = model.OrderCreate{CustomerID: o.CustomerID, DiscID: o.DiscID, Quantity: o.Quantity}.Fingerprint()
	}
	req := rsredis.Reservation{Order: o, Fingerprint: fingerprint, IdemTTL: r.cfg.IdempotencyTTL, MaxBacklog: r.cfg.MaxBacklog}
	if r.soldOut.is(o.DiscID) {
		return r.refuseSoldOut(ctx, req)
	}
	var err error
	if req.Order.ID, err = uuid.NewV7(); err != nil {
		return model.Order{}, false, err
	}
	res, err := r.reserve(ctx, req)
	for attempt := 1; err == nil && res.Code == rsredis.NeedUnits; attempt++ {
		if attempt == unitsAttempts || r.units == nil {
			// A stock change of the disc committed in Postgres and not yet applied in Redis (or the reverse)
			// outlasted the attempts: nothing was reserved, and a retry soon finds them in step.
			return model.Order{}, false, fmt.Errorf("reserve: disc %d stays between stock versions: %w", o.DiscID, model.ErrUnavailable)
		}
		var units model.BuyerUnits
		if units, err = r.units.BuyerUnits(ctx, o.DiscID, o.CustomerID); err != nil {
			return model.Order{}, false, err
		}
		req.Units = &units
		res, err = r.reserve(ctx, req)
	}
	if err != nil {
		return model.Order{}, false, err
	}
	switch res.Code {
	case rsredis.Reserved:
		return res.Order, false, nil
	case rsredis.Replayed:
		return res.Order, true, nil
	case rsredis.SoldOut:
		if res.Value == 0 {
			r.soldOut.mark(o.DiscID)
		}
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

// refuseSoldOut answers an order of a disc marked sold out: sold out, unless it repeats a request with the
// same Idempotency-Key, which is replayed (or refused as a reused key) as reserve.lua would, from one GET.
func (r *RedisReserver) refuseSoldOut(ctx context.Context, req rsredis.Reservation) (model.Order, bool, error) {
	if req.Fingerprint != "" {
		rctx, cancel := r.redisContext(ctx)
		defer cancel()
		res, ok, err := r.gate.Answered(rctx, req)
		switch {
		case err != nil:
			return model.Order{}, false, err
		case ok && res.Code == rsredis.KeyReused:
			return model.Order{}, false, model.ErrKeyReused
		case ok:
			return res.Order, true, nil
		}
	}
	return model.Order{}, false, &model.SoldOutError{Left: 0}
}

// reserve runs reserve.lua once within RedisTimeout. A timeout is model.ErrOutcomeUnknown: the reservation may
// have happened, and the answer tells the buyer to retry with the same Idempotency-Key, which replays it
// rather than sells twice.
func (r *RedisReserver) reserve(ctx context.Context, req rsredis.Reservation) (rsredis.ReserveResult, error) {
	rctx, cancel := r.redisContext(ctx)
	defer cancel()
	return r.gate.Reserve(rctx, req)
}

// Pending implements Reserver: Redis' pending orders, which an order leaves only after Postgres committed it.
func (r *RedisReserver) Pending(ctx context.Context, id uuid.UUID) (model.Order, bool, error) {
	rctx, cancel := r.redisContext(ctx)
	defer cancel()
	return r.gate.PendingOrder(rctx, id.String())
}

// WarmCustomers fills the positive cache with every customer that exists now (at start-up), so a launch of
// customers who signed up before it costs no Postgres round trip at all.
func (r *RedisReserver) WarmCustomers(ctx context.Context, ids func(ctx context.Context, each func(id int64)) error) error {
	return ids(ctx, r.known.add)
}

// redisContext bounds one Redis call of the order path by RedisTimeout.
func (r *RedisReserver) redisContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.RedisTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.cfg.RedisTimeout)
}

// customerExists checks a customer once per process: customers are never deleted, so a positive answer is
// cached for good and the steady state costs no Postgres round trip. Deactivation is checked in Redis.
func (r *RedisReserver) customerExists(ctx context.Context, id int64) error {
	if r.known.has(id) {
		return nil
	}
	if _, err := r.customers.Get(ctx, id); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return model.ErrUnknownCustomer
		}
		return err
	}
	r.known.add(id)
	return nil
}

// DirectPlacer is what PostgresReserver needs from the Postgres orders repository (*pg.Orders): the whole
// order path in one transaction, with the same rules as reserve.lua.
type DirectPlacer interface {
	PlaceDirect(ctx context.Context, o model.Order, idemTTL time.Duration) (model.Order, bool, error)
}

// PostgresReserver reserves in Postgres alone (RS_RESERVE_MODE=postgres), the baseline the bench compares
// with: one transaction locks the disc row, checks the rules (the customer's existence and active flag
// included) and inserts the order. An order is in Postgres once confirmed, so none is ever pending.
type PostgresReserver struct {
	store   DirectPlacer
	idemTTL time.Duration
}

// NewPostgresReserver returns the Postgres reservation mode.
func NewPostgresReserver(store DirectPlacer, idemTTL time.Duration) *PostgresReserver {
	return &PostgresReserver{store: store, idemTTL: idemTTL}
}

// Reserve implements Reserver.
func (r *PostgresReserver) Reserve(ctx context.Context, o model.Order) (model.Order, bool, error) {
	var err error
	if o.ID, err = uuid.NewV7(); err != nil {
		return model.Order{}, false, err
	}
	return r.store.PlaceDirect(ctx, o, r.idemTTL)
}

// Pending implements Reserver: nothing is pending in Postgres mode.
func (r *PostgresReserver) Pending(context.Context, uuid.UUID) (model.Order, bool, error) {
	return model.Order{}, false, nil
}
