package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

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
		rec, err := cmd.Result()
		if errors.Is(err, goredis.Nil) {
			continue // not in this partition
		}
		if err != nil {
			return model.Order{}, false, wrap("redis.pending_order", err)
		}
		o, err := ParseRecord(rec)
		return o, err == nil, err
	}
	return model.Order{}, false, nil
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
		if o, err := ParseRecord(rec); err == nil && o.DiscID == discID {
			out = append(out, o)
		}
	}
	return out, nil
}
