package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

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
		return fmt.Errorf("redis has %d partitions, configured %d: %w", n, g.keys.Partitions, model.ErrPartitionsDisagree)
	}
	return nil
}

// MetaPartitions returns the partition count recorded in Redis, or 0 when Redis has none (it lost its data).
func (g *Gate) MetaPartitions(ctx context.Context) (int, error) {
	n, err := g.rdb.HGet(ctx, g.keys.Meta(), "partitions").Int()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("redis.meta_partitions", err)
	}
	return n, nil
}
