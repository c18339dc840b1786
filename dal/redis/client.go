// Package redis holds the Redis side of recordshop: the go-redis client, the key layout of the stock gate,
// and the Go side of each Lua script.
package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Connect opens a client to url (redis://host:port/db) and checks that the server answers.
func Connect(ctx context.Context, url string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis.connect: parse url: %w", err)
	}
	if opts.PoolSize == 0 {
		// The writer keeps one blocking read per partition; the order path needs room beside them.
		opts.PoolSize = 128
	}
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis.connect: ping: %w", err)
	}
	return client, nil
}
