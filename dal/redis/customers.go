package redis

import (
	"context"
	"slices"

	goredis "github.com/redis/go-redis/v9"
)

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

// addInactiveChunk bounds the members of one SADD, so that no single command holds Redis for long.
const addInactiveChunk = 5000

// AddInactive adds customers to every partition's inactive set: start-up and --rebuild write all the
// deactivated customers at once, an SADD of up to addInactiveChunk members per partition, in one pipeline.
func (g *Gate) AddInactive(ctx context.Context, customerIDs []int64) error {
	for chunk := range slices.Chunk(customerIDs, addInactiveChunk) {
		members := make([]any, len(chunk))
		for i, id := range chunk {
			members[i] = id
		}
		_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i := 0; i < g.keys.Partitions; i++ {
				p.SAdd(ctx, g.keys.Inactive(i), members...)
			}
			return nil
		})
		if err != nil {
			return wrap("redis.add_inactive", err)
		}
	}
	return nil
}
