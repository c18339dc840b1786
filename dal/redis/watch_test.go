package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// TestWatchReadsWhatTheConsoleShows: the live units of the discs Redis holds, and per partition the orders
// waiting for Postgres, how long the oldest has waited (read from its stream id) and the dead letters.
func TestWatchReadsWhatTheConsoleShows(t *testing.T) {
	f := realRedis(t)
	ctx := t.Context()
	p, q := f.k.Partition(discID), f.k.Partition(elsewhere)
	f.load(*liveDisc(discID, 10), nil)
	f.mustReserve(request(buyer, discID, 1, ""))
	f.mustReserve(request(other, discID, 2, ""))
	// An entry Redis appended at second 1 of 1970 in the other partition: its wait is read from its id.
	if err := f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.k.Stream(q), ID: "1000-0", Values: map[string]any{"o": "junk"}}).Err(); err != nil {
		t.Fatal(err)
	}
	s := rsredis.NewStreams(f.rdb, f.k)
	if err := s.EnsureGroup(ctx, q); err != nil {
		t.Fatal(err)
	}
	entries, err := s.ReadNew(ctx, q, "w", -1, 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("read the junk: %d entries, err %v", len(entries), err)
	}
	if _, err := s.DeadLetter(ctx, q, entries[0], errors.New("poison")); err != nil {
		t.Fatal(err)
	}

	w, err := f.g.Watch(ctx, []int64{discID, neighbour})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int64]int64{discID: 7}, w.Available); diff != "" {
		t.Errorf("available (-want +got; a disc Redis lacks is left out):\n%s", diff)
	}
	if len(w.Partitions) != partitions {
		t.Fatalf("%d partitions, want %d", len(w.Partitions), partitions)
	}
	for _, ps := range w.Partitions {
		switch ps.Partition {
		case p:
			if ps.Backlog != 2 || ps.OldestWait < 0 || ps.OldestWait > time.Minute || ps.DeadLetters != 0 {
				t.Errorf("partition %d: %+v; want 2 orders waiting since moments ago, no dead letter", p, ps)
			}
		case q:
			if ps.Backlog != 0 || ps.OldestWait < 50*365*24*time.Hour || ps.DeadLetters != 1 {
				t.Errorf("partition %d: %+v; want the 1970 entry's wait and one dead letter", q, ps)
			}
		default:
			if ps != (rsredis.PartitionState{Partition: ps.Partition}) {
				t.Errorf("idle partition %+v, want nothing waiting", ps)
			}
		}
	}
}
