package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options parses url (redis://host:port/db) into client options with recordshop's defaults.
func Options(url string) (*goredis.Options, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", err)
	}
	if opts.PoolSize == 0 {
		// The writer keeps one blocking read per partition; the order path needs room beside them.
		opts.PoolSize = 128
	}
	// A deadline on the context bounds the command at the socket, go-redis' own resends included (a resend
	// starts only while the deadline is ahead). Without this go-redis ignores deadlines and waits ReadTimeout
	// per attempt. The order path sets a short one (service.OrderConfig.RedisTimeout); calls without a
	// deadline keep ReadTimeout, and a blocking read (the writer's XREADGROUP BLOCK) gets its block time plus
	// 10 s from go-redis whatever ReadTimeout is, so neither changes for them.
	opts.ContextTimeoutEnabled = true
	// Maintenance notifications are a managed-cloud feature; on a plain server the client only logs that it
	// could not enable them.
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, nil
}

// Connect opens a client to url and checks that the server answers.
func Connect(ctx context.Context, url string) (*goredis.Client, error) {
	opts, err := Options(url)
	if err != nil {
		return nil, err
	}
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis.connect: ping: %w", err)
	}
	return client, nil
}
