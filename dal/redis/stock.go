package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

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
	ans, acked, err := g.evalWrite(ctx, g.apply, []string{g.keys.Disc(c.Disc.ID), g.keys.Bought(c.Disc.ID)}, args...)
	if err != nil {
		return 0, 0, wrap("redis.apply", err)
	}
	rep := newReply("redis.apply", ans)
	code := ApplyCode(rep.int(0))
	var v int64
	if rep.len() > 1 {
		v = rep.int(1)
	}
	if err := rep.Err(); err != nil {
		return 0, 0, err
	}
	if code == Applied {
		if err := g.replicated("redis.apply", acked); err != nil {
			return 0, 0, err // the outbox keeps the event unapplied; its retry answers Duplicate
		}
	}
	return code, v, nil
}

// Load puts a disc Redis does not have into it, whole, with the units each customer bought. It reports false
// when the disc was there already (nothing is written then: live stock is never overwritten).
func (g *Gate) Load(ctx context.Context, s DiscState, bought map[int64]int64) (bool, error) {
	it := LoadItem{State: s, Bought: bought}
	ans, acked, err := g.evalWrite(ctx, g.load, []string{g.keys.Disc(s.ID), g.keys.Bought(s.ID)}, it.loadArgs()...)
	if err != nil {
		return false, wrap("redis.load", err)
	}
	rep := newReply("redis.load", ans)
	loaded := rep.int(0) == 1
	if err := rep.Err(); err != nil {
		return false, err
	}
	if loaded {
		return true, g.replicated("redis.load", acked)
	}
	return false, nil
}

// loadArgs are load.lua's arguments for the item.
func (it LoadItem) loadArgs() []any {
	known := "1"
	if it.Partial {
		known = "0"
	}
	args := append([]any{it.State.Version, it.State.Avail}, it.State.args()...)
	args = append(args, known)
	for c, n := range it.Bought {
		args = append(args, c, n)
	}
	return args
}

// Adjust adds corrections to a disc's avail and customers' units (reconcile --fix). It reports false when
// the disc is not in Redis.
func (g *Gate) Adjust(ctx context.Context, discID, availDelta int64, customers map[int64]int64) (bool, error) {
	args := []any{availDelta}
	for c, d := range customers {
		args = append(args, c, d)
	}
	ans, acked, err := g.evalWrite(ctx, g.adjust, []string{g.keys.Disc(discID), g.keys.Bought(discID)}, args...)
	if err != nil {
		return false, wrap("redis.adjust", err)
	}
	rep := newReply("redis.adjust", ans)
	present := rep.int(0) != -1
	if err := rep.Err(); err != nil {
		return false, err
	}
	if present {
		return true, g.replicated("redis.adjust", acked)
	}
	return false, nil
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
		switch err := cmd.Err(); {
		case errors.Is(err, goredis.Nil):
			continue // Redis does not hold the disc
		case err != nil:
			return nil, wrap("redis.available", err)
		}
		n, err := cmd.Int64()
		if err != nil {
			return nil, fmt.Errorf("redis.available: disc %d: %w: %w", discIDs[i], ErrBadReply, err)
		}
		out[discIDs[i]] = n
	}
	return out, nil
}

// HasSales reports whether Redis confirmed units of the disc that Postgres may not have yet: orders pending
// for the writer, or (on a disc with a per-customer limit) units counted for a customer. One pipelined round
// trip.
func (g *Gate) HasSales(ctx context.Context, discID int64) (bool, error) {
	var bought *goredis.IntCmd
	var pending *goredis.StringSliceCmd
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		bought = p.HLen(ctx, g.keys.Bought(discID))
		pending = p.HVals(ctx, g.keys.Pending(g.keys.Partition(discID)))
		return nil
	})
	if err != nil {
		return false, wrap("redis.has_sales", err)
	}
	if bought.Val() > 0 {
		return true, nil
	}
	for _, rec := range pending.Val() {
		if o, err := ParseRecord(rec); err == nil && o.DiscID == discID {
			return true, nil
		}
	}
	return false, nil
}

// Forget removes a deleted disc from Redis.
func (g *Gate) Forget(ctx context.Context, discID int64) error {
	if err := g.rdb.Del(ctx, g.keys.Disc(discID), g.keys.Bought(discID)).Err(); err != nil {
		return wrap("redis.forget", err)
	}
	return nil
}
