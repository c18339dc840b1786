package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
)

// Snapshot is what Redis held of some discs of one partition at one instant.
type Snapshot struct {
	Partition      int
	LastID         string        // the stream's last generated id: later orders are not in the counts
	Pending        []model.Order // confirmed, not yet in Postgres
	Dead           []model.Order // dead letters that could be read
	DeadUnreadable int           // dead letters whose record could not be read
	Discs          map[int64]DiscSnapshot
}

// DiscSnapshot is one disc in a Snapshot; Present is false when Redis does not hold the disc.
type DiscSnapshot struct {
	Present bool
	Avail   int64
	Version int64
	Bought  map[int64]int64
}

// Snapshot reads discIDs (all of partition p) and the partition's stream position, pending orders and dead
// letters in one atomic script.
func (g *Gate) Snapshot(ctx context.Context, p int, discIDs []int64) (Snapshot, error) {
	keys := []string{g.keys.Stream(p), g.keys.Pending(p), g.keys.DeadLetters(p)}
	for _, id := range discIDs {
		keys = append(keys, g.keys.Disc(id), g.keys.Bought(id))
	}
	vals, err := g.snapshot.Run(ctx, g.rdb, keys).Slice()
	if err != nil {
		return Snapshot{}, wrap("redis.snapshot", err)
	}
	s := Snapshot{Partition: p, LastID: vals[0].(string), Discs: make(map[int64]DiscSnapshot, len(discIDs))}
	pending := vals[1].([]any)
	for i := 1; i < len(pending); i += 2 {
		o, err := model.ParseRecord(pending[i].(string))
		if err != nil {
			return Snapshot{}, fmt.Errorf("redis.snapshot: pending %v: %w", pending[i-1], err)
		}
		s.Pending = append(s.Pending, o)
	}
	for _, rec := range vals[2].([]any) {
		o, err := model.ParseRecord(fmt.Sprint(rec))
		if err != nil {
			s.DeadUnreadable++
			continue
		}
		s.Dead = append(s.Dead, o)
	}
	for i, raw := range vals[3].([]any) {
		d := raw.([]any)
		ds := DiscSnapshot{Bought: map[int64]int64{}}
		if avail, ok := d[0].(string); ok {
			ds.Present = true
			ds.Avail, _ = strconv.ParseInt(avail, 10, 64)
			v, _ := d[1].(string)
			ds.Version, _ = strconv.ParseInt(v, 10, 64)
		}
		bought := d[2].([]any)
		for j := 1; j < len(bought); j += 2 {
			c, _ := strconv.ParseInt(bought[j-1].(string), 10, 64)
			n, _ := strconv.ParseInt(bought[j].(string), 10, 64)
			ds.Bought[c] = n
		}
		s.Discs[discIDs[i]] = ds
	}
	return s, nil
}

// Adjust adds corrections to a disc's avail and customers' units (reconcile --fix). It reports false when
// the disc is not in Redis.
func (g *Gate) Adjust(ctx context.Context, discID, availDelta int64, customers map[int64]int64) (bool, error) {
	args := []any{availDelta}
	for c, d := range customers {
		args = append(args, c, d)
	}
	vals, err := g.adjust.Run(ctx, g.rdb, []string{g.keys.Disc(discID), g.keys.Bought(discID)}, args...).Slice()
	if err != nil {
		return false, wrap("redis.adjust", err)
	}
	return vals[0].(int64) != -1, nil
}

// MetaPartitions returns the partition count recorded in Redis, or 0 when Redis has none (it lost its data).
func (g *Gate) MetaPartitions(ctx context.Context) (int, error) {
	n, err := g.rdb.HGet(ctx, g.keys.Meta(), "partitions").Int()
	if err == goredis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("redis.meta_partitions", err)
	}
	return n, nil
}

// EnsureStream makes partition p's stream and consumer group exist, with a last id of at least minLastID. A
// Redis that lost its data would otherwise restart its stream ids below orders Postgres already has, and
// reconcile would take those orders for ones reserved after its snapshot.
func (g *Gate) EnsureStream(ctx context.Context, p int, minLastID string) error {
	stream := g.keys.Stream(p)
	if err := g.rdb.XGroupCreateMkStream(ctx, stream, StreamGroup, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return wrap("redis.ensure_stream", err)
	}
	if minLastID == "" {
		return nil
	}
	// XSETID refuses an id below the stream's last one, which is then already high enough.
	if err := g.rdb.Do(ctx, "XSETID", stream, minLastID).Err(); err != nil && !strings.Contains(err.Error(), "smaller") {
		return wrap("redis.ensure_stream", err)
	}
	return nil
}

// RequeueDeadLetters puts partition p's readable dead letters whose order Postgres does not have back on the
// stream (and in pending), for the writer to try again; it returns how many. keep tells which orders Postgres
// has already (their dead letters are just dropped).
func (g *Gate) RequeueDeadLetters(ctx context.Context, p int, inPostgres func([]model.Order) (map[string]bool, error)) (int, error) {
	entries, err := g.rdb.XRange(ctx, g.keys.DeadLetters(p), "-", "+").Result()
	if err != nil {
		return 0, wrap("redis.requeue", err)
	}
	var orders []model.Order
	ids := map[string]string{} // order id -> dead-letter entry id
	for _, e := range entries {
		o, err := model.ParseRecord(fmt.Sprint(e.Values["o"]))
		if err != nil {
			continue // unreadable: left for a person
		}
		orders = append(orders, o)
		ids[o.ID.String()] = e.ID
	}
	if len(orders) == 0 {
		return 0, nil
	}
	have, err := inPostgres(orders)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orders {
		id := o.ID.String()
		_, err := g.rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			if !have[id] {
				pipe.XAdd(ctx, &goredis.XAddArgs{Stream: g.keys.Stream(p), Values: map[string]any{"o": o.Record()}})
				pipe.HSet(ctx, g.keys.Pending(p), id, o.Record())
			}
			pipe.XDel(ctx, g.keys.DeadLetters(p), ids[id])
			return nil
		})
		if err != nil {
			return n, wrap("redis.requeue", err)
		}
		if !have[id] {
			n++
		}
	}
	return n, nil
}
