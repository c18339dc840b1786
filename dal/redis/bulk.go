package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

// Loading many discs at once (start-up, --rebuild) costs a pipelined round trip per partition, not one per
// disc: everything of one partition lives in one slot, so one primary takes all of it.

// LoadItem is one disc to load whole: its state and the units each customer bought. Partial says Bought holds
// only some buyers (the others' units stay in Postgres, and reserve.lua asks for them); otherwise it holds all.
type LoadItem struct {
	State   DiscState
	Bought  map[int64]int64
	Partial bool
}

// LoadAll runs load.lua for every item, a pipeline per partition on the partition's primary (with WAIT at its
// end when the gate waits for replicas), and reports which discs it loaded; a disc Redis holds already is
// left as it is, as Load leaves it.
func (g *Gate) LoadAll(ctx context.Context, items []LoadItem) (map[int64]bool, error) {
	byPartition := map[int][]LoadItem{}
	for _, it := range items {
		p := g.keys.Partition(it.State.ID)
		byPartition[p] = append(byPartition[p], it)
	}
	loaded := make(map[int64]bool, len(items))
	for _, part := range byPartition {
		if err := g.loadPartition(ctx, part, loaded); err != nil {
			return loaded, err
		}
	}
	return loaded, nil
}

func (g *Gate) loadPartition(ctx context.Context, items []LoadItem, loaded map[int64]bool) error {
	node, err := g.primaryFor(ctx, g.keys.Disc(items[0].State.ID))
	if err != nil {
		return wrap("redis.load_all", err)
	}
	// The pipeline goes straight to EVALSHA: the script is loaded on this node first (a promoted replica,
	// or a restarted server, has an empty script cache).
	if err := g.load.Load(ctx, node).Err(); err != nil {
		return wrap("redis.load_all", err)
	}
	cmds := make([]*goredis.Cmd, len(items))
	var wait *goredis.Cmd
	_, err = node.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, it := range items {
			cmds[i] = g.load.EvalSha(ctx, p, []string{g.keys.Disc(it.State.ID), g.keys.Bought(it.State.ID)}, it.loadArgs()...)
		}
		if g.repl.Replicas > 0 {
			wait = p.Do(ctx, "WAIT", g.repl.Replicas, g.repl.timeout().Milliseconds())
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return wrap("redis.load_all", err)
	}
	for i, cmd := range cmds {
		rep := newReply("redis.load_all", cmd.Val())
		if rep.int(0) == 1 {
			loaded[items[i].State.ID] = true
		}
		if err := rep.Err(); err != nil {
			return err
		}
	}
	if wait != nil {
		acked, err := wait.Int64()
		if err != nil {
			return wrap("redis.load_all", err)
		}
		if err := g.replicated("redis.load_all", acked); err != nil {
			return err
		}
	}
	return nil
}

// PendingAll returns every partition's confirmed orders that are not in Postgres yet, by disc, in one
// pipelined round trip (HVALS per partition).
func (g *Gate) PendingAll(ctx context.Context) (map[int64][]model.Order, error) {
	cmds := make([]*goredis.StringSliceCmd, g.keys.Partitions)
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HVals(ctx, g.keys.Pending(i))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("redis.pending_all", err)
	}
	out := map[int64][]model.Order{}
	for _, cmd := range cmds {
		for _, rec := range cmd.Val() {
			if o, err := ParseRecord(rec); err == nil {
				out[o.DiscID] = append(out[o.DiscID], o)
			}
		}
	}
	return out, nil
}

// ForgetAll removes discs from Redis (--rebuild, before loading them again), in one pipelined round trip.
func (g *Gate) ForgetAll(ctx context.Context, discIDs []int64) error {
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, id := range discIDs {
			p.Del(ctx, g.keys.Disc(id), g.keys.Bought(id))
		}
		return nil
	})
	if err != nil {
		return wrap("redis.forget_all", err)
	}
	return nil
}
