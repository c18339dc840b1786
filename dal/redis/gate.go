package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/scripts/lua"
)

// wrap names the operation and marks transport failures (as opposed to replies of the server) as
// model.ErrUnavailable.
func wrap(op string, err error) error {
	if replied(err) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, model.ErrUnavailable, err)
}

// replied reports whether err is an answer of the server (other than "still loading") rather than a failure
// to get one.
func replied(err error) bool {
	var reply goredis.Error
	return errors.As(err, &reply) && !strings.HasPrefix(err.Error(), "LOADING")
}

// StreamGroup is the consumer group of the writers on every partition stream.
const StreamGroup = "writers"

// Gate is the Redis stock gate: the reservation script and the scripts that keep Redis in step with Postgres.
type Gate struct {
	rdb      goredis.UniversalClient
	keys     Keys
	reserve  *goredis.Script
	apply    *goredis.Script
	load     *goredis.Script
	snapshot *goredis.Script
	adjust   *goredis.Script
}

// NewGate returns the gate over rdb with the given key layout.
func NewGate(rdb goredis.UniversalClient, keys Keys) *Gate {
	return &Gate{rdb: rdb, keys: keys,
		reserve: goredis.NewScript(lua.Reserve), apply: goredis.NewScript(lua.Apply), load: goredis.NewScript(lua.Load),
		snapshot: goredis.NewScript(lua.Snapshot), adjust: goredis.NewScript(lua.Adjust)}
}

// Keys returns the key layout.
func (g *Gate) Keys() Keys { return g.keys }

// Client returns the Redis client.
func (g *Gate) Client() goredis.UniversalClient { return g.rdb }

// resendTTL keeps the implicit idempotency record of an order without an Idempotency-Key: long enough to
// outlast the client's resends of one command, short enough to cost little memory at launch rates.
const resendTTL = time.Minute

// ReserveCode is what reserve.lua answered.
type ReserveCode int

// The codes of reserve.lua (see its header).
const (
	Reserved ReserveCode = iota + 1
	Replayed
	SoldOut
	OverLimit
	NotStarted
	Inactive
	NoDisc
	KeyReused
	Backlog
)

// Reservation is a reservation request.
type Reservation struct {
	Order       model.Order // ID, CustomerID, DiscID, Quantity, ReservedAt, IdempotencyKey
	Fingerprint string      // "" when there is no Idempotency-Key
	IdemTTL     time.Duration
	MaxBacklog  int // per partition; 0 = unbounded
}

// ReserveResult is the script's answer: the order on Reserved and Replayed, a number for the refusals.
type ReserveResult struct {
	Code     ReserveCode
	Order    model.Order
	StreamID string
	Value    int64 // units left, units the customer may still buy, sale start ms, or backlog
}

// Reserve runs reserve.lua: one Redis round trip (EVALSHA, or EVAL after a restart emptied the script cache).
func (g *Gate) Reserve(ctx context.Context, r Reservation) (ReserveResult, error) {
	o := r.Order
	p := g.keys.Partition(o.DiscID)
	// Without an Idempotency-Key the order id is the key, kept briefly: go-redis resends a command whose
	// answer was lost, and the resend must replay this reservation, not take the units a second time.
	idemKey, fingerprint, ttl := "", r.Fingerprint, r.IdemTTL
	if fingerprint != "" {
		idemKey = g.keys.Idempotency(o.DiscID, o.CustomerID, o.IdempotencyKey)
	} else {
		idemKey = g.keys.Idempotency(o.DiscID, o.CustomerID, "~"+o.ID.String())
		fingerprint, ttl = "resend", resendTTL
	}
	keys := []string{g.keys.Disc(o.DiscID), g.keys.Bought(o.DiscID), idemKey, g.keys.Inactive(p), g.keys.Stream(p), g.keys.Pending(p)}
	// SET ... EX needs whole seconds >= 1, and the script must not fail after it took the units.
	args := []any{o.ID.String(), o.CustomerID, o.DiscID, o.Quantity, o.ReservedAt.UnixMilli(), fingerprint,
		max(int64(math.Ceil(ttl.Seconds())), 1), r.MaxBacklog, o.IdempotencyKey}
	vals, err := g.reserve.Run(ctx, g.rdb, keys, args...).Slice()
	if err != nil && !replied(err) {
		// No answer (the caller's deadline passed, the connection was cut): the script may have run, or may
		// still run from a socket buffer once a stalled Redis resumes. Only a retry with the same
		// Idempotency-Key can learn which, and it replays rather than sells twice.
		return ReserveResult{}, fmt.Errorf("redis.reserve: %w: %w", model.ErrOutcomeUnknown, err)
	}
	if err != nil {
		return ReserveResult{}, wrap("redis.reserve", err)
	}
	res := ReserveResult{Code: ReserveCode(vals[0].(int64))}
	switch res.Code {
	case Reserved, Replayed:
		if res.Code == Replayed && r.Fingerprint == "" {
			res.Code = Reserved // our own resend: to the caller this is the first answer
		}
		if res.Order, err = model.ParseRecord(vals[1].(string)); err != nil {
			return ReserveResult{}, fmt.Errorf("redis.reserve: %w", err)
		}
		if len(vals) > 2 {
			res.StreamID = vals[2].(string)
		}
	case SoldOut, OverLimit, NotStarted, Backlog:
		res.Value = vals[1].(int64)
	}
	return res, nil
}

// DiscState is what Redis holds of a disc, as Postgres last told it.
type DiscState struct {
	ID         int64
	Version    int64
	Avail      int64
	PriceCents int64
	Limit      int
	StartsAt   time.Time
	Active     bool
}

func (s DiscState) args() []any {
	active := 0
	if s.Active {
		active = 1
	}
	return []any{s.PriceCents, s.Limit, s.StartsAt.UnixMilli(), active}
}

// ApplyCode is what apply.lua answered.
type ApplyCode int

// The codes of apply.lua (see its header).
const (
	Applied ApplyCode = iota + 1
	Duplicate
	Missing
	Gap
	Short
)

// Change is one stock event to apply: the disc as of its version, the delta, and for a cancel the customer
// whose units come back.
type Change struct {
	Disc          DiscState // Version is the event's version
	Delta         int64
	CustomerID    int64 // 0 = none
	CustomerDelta int64
	Guard         bool // refuse to take avail below zero
}

// Apply runs apply.lua and returns its code and value.
func (g *Gate) Apply(ctx context.Context, c Change) (ApplyCode, int64, error) {
	customer := ""
	if c.CustomerID != 0 {
		customer = strconv.FormatInt(c.CustomerID, 10)
	}
	guard := "0"
	if c.Guard {
		guard = "1"
	}
	args := append([]any{c.Disc.Version, c.Delta}, c.Disc.args()...)
	args = append(args, customer, c.CustomerDelta, guard)
	vals, err := g.apply.Run(ctx, g.rdb, []string{g.keys.Disc(c.Disc.ID), g.keys.Bought(c.Disc.ID)}, args...).Slice()
	if err != nil {
		return 0, 0, wrap("redis.apply", err)
	}
	var v int64
	if len(vals) > 1 {
		v = vals[1].(int64)
	}
	return ApplyCode(vals[0].(int64)), v, nil
}

// Load puts a disc Redis does not have into it, whole, with the units each customer bought. It reports false
// when the disc was there already (nothing is written then: live stock is never overwritten).
func (g *Gate) Load(ctx context.Context, s DiscState, bought map[int64]int64) (bool, error) {
	args := append([]any{s.Version, s.Avail}, s.args()...)
	for c, n := range bought {
		args = append(args, c, n)
	}
	vals, err := g.load.Run(ctx, g.rdb, []string{g.keys.Disc(s.ID), g.keys.Bought(s.ID)}, args...).Slice()
	if err != nil {
		return false, wrap("redis.load", err)
	}
	return vals[0].(int64) == 1, nil
}

// Available returns the live sellable units of each disc that Redis holds (absent ones are left out), in one
// round trip.
func (g *Gate) Available(ctx context.Context, discIDs []int64) (map[int64]int64, error) {
	cmds := make([]*goredis.StringCmd, len(discIDs))
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range discIDs {
			cmds[i] = p.HGet(ctx, g.keys.Disc(id), "avail")
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap("redis.available", err)
	}
	out := make(map[int64]int64, len(discIDs))
	for i, cmd := range cmds {
		if n, err := cmd.Int64(); err == nil {
			out[discIDs[i]] = n
		}
	}
	return out, nil
}

// PendingOrder finds a confirmed order that is not yet in Postgres. Its partition is unknown from the id, so
// it asks every partition in one pipelined round trip.
func (g *Gate) PendingOrder(ctx context.Context, id string) (model.Order, bool, error) {
	cmds := make([]*goredis.StringCmd, g.keys.Partitions)
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HGet(ctx, g.keys.Pending(i), id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return model.Order{}, false, wrap("redis.pending_order", err)
	}
	for _, cmd := range cmds {
		if rec, err := cmd.Result(); err == nil {
			o, err := model.ParseRecord(rec)
			return o, err == nil, err
		}
	}
	return model.Order{}, false, nil
}

// SetInactive adds a customer to (or removes them from) every partition's inactive set, so the check stays
// inside the atomic reservation whatever disc is bought.
func (g *Gate) SetInactive(ctx context.Context, customerID int64, inactive bool) error {
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := 0; i < g.keys.Partitions; i++ {
			if inactive {
				p.SAdd(ctx, g.keys.Inactive(i), customerID)
			} else {
				p.SRem(ctx, g.keys.Inactive(i), customerID)
			}
		}
		return nil
	})
	if err != nil {
		return wrap("redis.set_inactive", err)
	}
	return nil
}

// ErrPartitionMismatch refuses to start against a store made for another partition count.
var ErrPartitionMismatch = errors.New("partition count differs from the one this deployment was made with")

// ClaimPartitions records the partition count in Redis on first use and refuses a different one later.
func (g *Gate) ClaimPartitions(ctx context.Context) error {
	if err := g.rdb.HSetNX(ctx, g.keys.Meta(), "partitions", g.keys.Partitions).Err(); err != nil {
		return wrap("redis.claim_partitions", err)
	}
	n, err := g.rdb.HGet(ctx, g.keys.Meta(), "partitions").Int()
	if err != nil {
		return wrap("redis.claim_partitions", err)
	}
	if n != g.keys.Partitions {
		return fmt.Errorf("redis has %d partitions, configured %d: %w", n, g.keys.Partitions, ErrPartitionMismatch)
	}
	return nil
}

// PendingOrders returns the orders of a disc that Redis confirmed and that were not flushed to Postgres when
// it looked.
func (g *Gate) PendingOrders(ctx context.Context, discID int64) ([]model.Order, error) {
	recs, err := g.rdb.HVals(ctx, g.keys.Pending(g.keys.Partition(discID))).Result()
	if err != nil {
		return nil, wrap("redis.pending_orders", err)
	}
	var out []model.Order
	for _, rec := range recs {
		if o, err := model.ParseRecord(rec); err == nil && o.DiscID == discID {
			out = append(out, o)
		}
	}
	return out, nil
}

// HasSales reports whether any customer holds units of the disc in Redis (confirmed, pending or persisted,
// not cancelled).
func (g *Gate) HasSales(ctx context.Context, discID int64) (bool, error) {
	n, err := g.rdb.HLen(ctx, g.keys.Bought(discID)).Result()
	if err != nil {
		return false, wrap("redis.has_sales", err)
	}
	return n > 0, nil
}

// Forget removes a deleted disc from Redis.
func (g *Gate) Forget(ctx context.Context, discID int64) error {
	if err := g.rdb.Del(ctx, g.keys.Disc(discID), g.keys.Bought(discID)).Err(); err != nil {
		return wrap("redis.forget", err)
	}
	return nil
}
