package redis

import (
	"context"
	"fmt"

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
// letters in one atomic script.
func (g *Gate) Snapshot(ctx context.Context, p int, discIDs []int64) (Snapshot, error) {
	keys := []string{g.keys.Stream(p), g.keys.Pending(p), g.keys.DeadLetters(p)}
	for _, id := range discIDs {
		keys = append(keys, g.keys.Disc(id), g.keys.Bought(id))
	}
	ans, err := g.snapshot.Run(ctx, g.rdb, keys).Result()
	if err != nil {
		return Snapshot{}, wrap("redis.snapshot", err)
	}
	return readSnapshot(p, discIDs, ans)
}

// readSnapshot reads snapshot.lua's answer {last id, pending (flat HGETALL), dead records, discs}.
func readSnapshot(p int, discIDs []int64, ans any) (Snapshot, error) {
	rep := newReply("redis.snapshot", ans)
	s := Snapshot{Partition: p, LastID: rep.str(0), Discs: make(map[int64]DiscSnapshot, len(discIDs))}
	pending := rep.array(1)
	for i := 1; i < pending.len(); i += 2 {
		rec := pending.str(i)
		if rep.Err() != nil {
			break
		}
		o, err := ParseRecord(rec)
		if err != nil {
			return Snapshot{}, fmt.Errorf("redis.snapshot: pending %v: %w", pending.at(i-1), err)
		}
		s.Pending = append(s.Pending, o)
	}
	dead := rep.array(2)
	for i := range dead.len() {
		o, err := ParseRecord(dead.str(i))
		if err != nil {
			s.DeadUnreadable++
			continue
		}
		s.Dead = append(s.Dead, o)
	}
	discs := rep.array(3)
	if rep.Err() == nil && discs.len() != len(discIDs) {
		return Snapshot{}, fmt.Errorf("redis.snapshot: %d discs in the reply for %d asked: %w", discs.len(), len(discIDs), ErrBadReply)
	}
	for i := range discs.len() {
		d := discs.array(i)
		ds := DiscSnapshot{Bought: map[int64]int64{}}
		if _, ok := d.optStr(0); ok {
			ds.Present, ds.Avail = true, d.decimal(0)
			if _, ok := d.optStr(1); ok {
				ds.Version = d.decimal(1)
			}
		}
		if d.len() < 4 {
			// a reply of an older snapshot.lua: every buyer is in Redis
		} else if known, ok := d.optStr(3); ok && known == "0" {
			ds.Partial = true
		}
		bought := d.array(2)
		for j := 1; j < bought.len(); j += 2 {
			ds.Bought[bought.decimal(j-1)] = bought.decimal(j)
		}
		s.Discs[discIDs[i]] = ds
	}
	if err := rep.Err(); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}
