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

// DiscSnapshot is one disc in a Snapshot; Present is false when Redis does not hold the disc. Partial says
// Bought holds only the buyers Redis has seen since it loaded the disc (see reserve.lua's known flag).
type DiscSnapshot struct {
	Present bool
	Avail   int64
	Version int64
	Bought  map[int64]int64
	Partial bool
}

// Snapshot reads discIDs (all of partition p) and the partition's stream position, pending orders and dead
// letters in one MULTI/EXEC: Redis runs the commands of a transaction one after another with nothing between
// them, so they read one instant, as a script would, at a fraction of a script's cost per disc (a script
// pays Lua's call and table conversions for each of a chunk's hundreds of discs).
func (g *Gate) Snapshot(ctx context.Context, p int, discIDs []int64) (Snapshot, error) {
	return g.SnapshotCounted(ctx, p, discIDs, nil)
}

// SnapshotCounted is Snapshot reading the units per customer only of the discs in counted (nil: of all): a
// disc without a per-customer limit has none, and a check of a whole shop of mostly such discs saves a
// command each.
func (g *Gate) SnapshotCounted(ctx context.Context, p int, discIDs []int64, counted map[int64]bool) (Snapshot, error) {
	var info *goredis.Cmd
	var pending *goredis.MapStringStringCmd
	var dead *goredis.XMessageSliceCmd
	discs := make([]*goredis.SliceCmd, len(discIDs))
	bought := make([]*goredis.MapStringStringCmd, len(discIDs))
	_, err := g.rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		info = pipe.Do(ctx, "XINFO", "STREAM", g.keys.Stream(p))
		pending = pipe.HGetAll(ctx, g.keys.Pending(p))
		dead = pipe.XRange(ctx, g.keys.DeadLetters(p), "-", "+")
		for i, id := range discIDs {
			discs[i] = pipe.HMGet(ctx, g.keys.Disc(id), "avail", "ver", "known")
			if counted == nil || counted[id] {
				bought[i] = pipe.HGetAll(ctx, g.keys.Bought(id))
			}
		}
		return nil
	})
	if err != nil && !isNoStream(err) {
		return Snapshot{}, wrap("redis.snapshot", err)
	}
	snap := Snapshot{Partition: p, LastID: lastGeneratedID(info.Val()), Discs: make(map[int64]DiscSnapshot, len(discIDs))}
	for id, rec := range pending.Val() {
		o, err := ParseRecord(rec)
		if err != nil {
			return Snapshot{}, fmt.Errorf("redis.snapshot: pending %s: %w", id, err)
		}
		snap.Pending = append(snap.Pending, o)
	}
	for _, m := range dead.Val() {
		rec, _ := m.Values["o"].(string)
		o, err := ParseRecord(rec)
		if err != nil {
			snap.DeadUnreadable++
			continue
		}
		snap.Dead = append(snap.Dead, o)
	}
	for i, id := range discIDs {
		var units map[string]string
		if bought[i] != nil {
			units = bought[i].Val()
		}
		d, err := readDisc(discs[i].Val(), units)
		if err != nil {
			return Snapshot{}, fmt.Errorf("redis.snapshot: disc %d: %w", id, err)
		}
		snap.Discs[id] = d
	}
	return snap, nil
}

// readDisc reads one disc of a snapshot: HMGET avail, ver, known, and the HGETALL of its units per customer.
func readDisc(fields []any, bought map[string]string) (DiscSnapshot, error) {
	d := DiscSnapshot{}
	if len(fields) != 3 {
		return d, fmt.Errorf("%d fields for 3 asked: %w", len(fields), ErrBadReply)
	}
	num := func(v any) (int64, error) {
		s, ok := v.(string)
		if !ok {
			return 0, fmt.Errorf("want a decimal string, got %T: %w", v, ErrBadReply)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %q: %w", s, ErrBadReply)
		}
		return n, nil
	}
	var err error
	if fields[0] != nil {
		d.Present = true
		if d.Avail, err = num(fields[0]); err != nil {
			return d, err
		}
		if fields[1] != nil {
			if d.Version, err = num(fields[1]); err != nil {
				return d, err
			}
		}
	}
	d.Partial = fields[2] == "0"
	if len(bought) > 0 {
		d.Bought = make(map[int64]int64, len(bought))
	}
	for c, n := range bought {
		customer, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			return d, fmt.Errorf("bought: customer %q: %w", c, ErrBadReply)
		}
		if d.Bought[customer], err = num(n); err != nil {
			return d, err
		}
	}
	return d, nil
}

// lastGeneratedID reads the stream position from XINFO STREAM's answer (a map in RESP3, a flat list in RESP2);
// a stream that does not exist yet is at its start.
func lastGeneratedID(info any) string {
	switch fields := info.(type) {
	case map[any]any:
		if id, ok := fields["last-generated-id"].(string); ok {
			return id
		}
	case []any:
		for i := 0; i+1 < len(fields); i += 2 {
			if k, _ := fields[i].(string); k == "last-generated-id" {
				if id, ok := fields[i+1].(string); ok {
					return id
				}
			}
		}
	}
	return "0-0"
}

// isNoStream reports the error XINFO STREAM gives for a stream that does not exist yet: no order was ever
// taken in the partition, and its position is the start.
func isNoStream(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}
