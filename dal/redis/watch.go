package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// PartitionState is what the launch console shows of one partition's way to Postgres.
type PartitionState struct {
	Partition int
	// Backlog is the confirmed orders not in Postgres yet (the pending hash, which the writer's
	// recordshop_writer_backlog gauge also reads).
	Backlog int64
	// OldestWait is how long the oldest order of the stream has waited for Postgres, by Redis' own clock (a
	// stream entry's id is the millisecond Redis appended it, and the writer deletes an entry once Postgres
	// has its orders); 0 when nothing waits.
	OldestWait time.Duration
	// DeadLetters is the entries of the dead-letter stream: orders the writer could not put in Postgres.
	DeadLetters int64
}

// Watch is one look at the gate for the launch console: the live units of some discs and the state of every
// partition, read in one pipelined round trip (per node on a cluster). It only reads.
type Watch struct {
	Available  map[int64]int64 // the discs Redis holds; one it lacks is left out
	Partitions []PartitionState
}

// Watch reads the live units of discIDs and every partition's backlog, oldest waiting order and dead letters.
func (g *Gate) Watch(ctx context.Context, discIDs []int64) (Watch, error) {
	parts := g.keys.Partitions
	backlog := make([]*goredis.IntCmd, parts)
	oldest := make([]*goredis.XMessageSliceCmd, parts)
	dead := make([]*goredis.IntCmd, parts)
	avail := make([]*goredis.StringCmd, len(discIDs))
	var clock *goredis.TimeCmd
	_, err := g.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		clock = p.Time(ctx)
		for i := range parts {
			backlog[i] = p.HLen(ctx, g.keys.Pending(i))
			oldest[i] = p.XRangeN(ctx, g.keys.Stream(i), "-", "+", 1)
			dead[i] = p.XLen(ctx, g.keys.DeadLetters(i))
		}
		for i, id := range discIDs {
			avail[i] = p.HGet(ctx, g.keys.Disc(id), "avail")
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return Watch{}, wrap("redis.watch", err)
	}
	now := clock.Val()
	w := Watch{Available: make(map[int64]int64, len(discIDs)), Partitions: make([]PartitionState, parts)}
	for i := range parts {
		s := PartitionState{Partition: i, Backlog: backlog[i].Val(), DeadLetters: dead[i].Val()}
		if msgs := oldest[i].Val(); len(msgs) > 0 {
			if at, ok := entryTime(msgs[0].ID); ok {
				s.OldestWait = max(now.Sub(at), 0)
			}
		}
		w.Partitions[i] = s
	}
	for i, cmd := range avail {
		switch err := cmd.Err(); {
		case errors.Is(err, goredis.Nil):
			continue // Redis does not hold the disc (yet)
		case err != nil:
			return Watch{}, wrap("redis.watch", err)
		}
		n, err := cmd.Int64()
		if err != nil {
			return Watch{}, fmt.Errorf("redis.watch: disc %d: %w: %w", discIDs[i], ErrBadReply, err)
		}
		w.Available[discIDs[i]] = n
	}
	return w, nil
}

// entryTime is the instant Redis appended a stream entry: the milliseconds part of its id.
func entryTime(id string) (time.Time, bool) {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n), err == nil
}
