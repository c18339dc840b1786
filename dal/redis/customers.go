package redis

import (
	"context"

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
