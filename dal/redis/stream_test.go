package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// entryOrders is what the writer gets of entries: entry id -> the order (its stream position included), or
// the record of a poison entry.
func entryOrders(t *testing.T, entries []rsredis.Entry) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range entries {
		if e.Err != nil {
			out[e.ID] = "poison: " + e.Record
			continue
		}
		out[e.ID] = e.Order
	}
	return out
}

// TestStreamsCarryOrdersToTheWriter walks the writer's side of a partition stream through one life: the group is
// made (twice, as every writer does at start), orders reserved by reserve.lua are read with their stream
// position, stay in the reader's history until acknowledged, a dead consumer's entries are claimed, and
// acknowledging or dead-lettering drops an entry from the stream and its pending record.
func TestStreamsCarryOrdersToTheWriter(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := t.Context()
			s := rsredis.NewStreams(f.rdb, f.k)
			p := f.k.Partition(discID)

			if _, err := s.ReadNew(ctx, p, "a", -1, 10); !errors.Is(err, rsredis.ErrNoGroup) {
				t.Fatalf("read before the group exists: err %v; want ErrNoGroup", err)
			}
			for range 2 {
				if err := s.EnsureGroup(ctx, p); err != nil {
					t.Fatalf("ensure group: %v", err)
				}
			}
			if s.Partitions() != partitions {
				t.Fatalf("partitions %d, want %d", s.Partitions(), partitions)
			}

			f.load(*liveDisc(discID, 10), nil)
			var placed []model.Order
			for i := range 3 {
				placed = append(placed, f.mustReserve(request(buyer+int64(i), discID, 1, "")))
			}
			if err := f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.k.Stream(p), Values: map[string]any{"o": "junk"}}).Err(); err != nil {
				t.Fatal(err)
			}

			read, err := s.ReadNew(ctx, p, "a", -1, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(read) != 4 {
				t.Fatalf("read %d entries, want 3 orders and the junk", len(read))
			}
			want := map[string]any{read[3].ID: "poison: junk"}
			for i, o := range placed {
				o.StreamPartition, o.StreamID = p, read[i].ID
				want[read[i].ID] = o
			}
			if diff := cmp.Diff(want, entryOrders(t, read)); diff != "" {
				t.Fatalf("entries (-want +got):\n%s", diff)
			}
			if more, err := s.ReadNew(ctx, p, "a", 10*time.Millisecond, 10); err != nil || len(more) != 0 {
				t.Fatalf("second read: %d entries, err %v; want none: every entry was delivered", len(more), err)
			}
			own, err := s.ReadOwn(ctx, p, "a", 10)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, entryOrders(t, own)); diff != "" {
				t.Fatalf("own history before any acknowledgement (-want +got):\n%s", diff)
			}
			if other, err := s.ReadOwn(ctx, p, "b", 10); err != nil || len(other) != 0 {
				t.Fatalf("another consumer's history: %d entries, err %v; want none", len(other), err)
			}

			// a dies; b claims what a left, idle or not (minIdle 0 here; the writer waits ClaimIdle).
			claimed, next, err := s.Claim(ctx, p, "b", 0, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, entryOrders(t, claimed)); diff != "" {
				t.Fatalf("claimed (-want +got):\n%s", diff)
			}
			if next != "" {
				t.Errorf("claim scan goes on from %q; want it done (\"\")", next)
			}
			if own, err := s.ReadOwn(ctx, p, "a", 10); err != nil || len(own) != 0 {
				t.Fatalf("a's history after b claimed it: %d entries, err %v; want none", len(own), err)
			}
			if n, err := s.Backlog(ctx, p); err != nil || n != 3 {
				t.Fatalf("backlog %d (err %v), want the 3 pending orders", n, err)
			}

			if err := s.AckAndDrop(ctx, p, claimed[:2]); err != nil {
				t.Fatal(err)
			}
			// The two acknowledged entries are trimmed; the two b still holds stay, whatever their ids.
			if n, err := f.rdb.XLen(ctx, f.k.Stream(p)).Result(); err != nil || n != 2 {
				t.Fatalf("stream holds %d entries after acknowledging 2 of 4 (err %v); want the 2 still held", n, err)
			}
			cause := errors.New("postgres refused it")
			if added, err := s.DeadLetter(ctx, p, claimed[2], cause); err != nil || !added {
				t.Fatalf("dead-lettering an order: added %v, err %v", added, err)
			}
			if added, err := s.DeadLetter(ctx, p, claimed[3], claimed[3].Err); err != nil || !added {
				t.Fatalf("dead-lettering the junk: added %v, err %v", added, err)
			}
			// A writer that died before acknowledging reads the order again and dead-letters it again: once is kept.
			if added, err := s.DeadLetter(ctx, p, claimed[2], cause); err != nil || added {
				t.Fatalf("dead-lettering the order again: added %v, err %v; want nothing added", added, err)
			}
			if n, err := f.rdb.XLen(ctx, f.k.DeadLetters(p)).Result(); err != nil || n != 2 {
				t.Fatalf("%d dead letters (err %v); want the refused order once and the junk", n, err)
			}
			if own, err := s.ReadOwn(ctx, p, "b", 10); err != nil || len(own) != 2 {
				t.Fatalf("b's history after dead-lettering: %d entries, err %v; want both until acknowledged", len(own), err)
			}
			if err := s.AckAndDrop(ctx, p, claimed[2:]); err != nil {
				t.Fatal(err)
			}
			if own, err := s.ReadOwn(ctx, p, "b", 10); err != nil || len(own) != 0 {
				t.Fatalf("b's history after acknowledging everything: %d entries, err %v; want none", len(own), err)
			}
			if n, err := f.rdb.XLen(ctx, f.k.Stream(p)).Result(); err != nil || n != 0 {
				t.Errorf("stream holds %d entries (err %v); want none: it holds only what Postgres lacks", n, err)
			}
			if n, err := s.Backlog(ctx, p); err != nil || n != 0 {
				t.Errorf("backlog %d (err %v), want 0", n, err)
			}
			dead, err := f.rdb.XRange(ctx, f.k.DeadLetters(p), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]map[string]any, len(dead))
			for i, d := range dead {
				got[i] = d.Values
			}
			wantDead := []map[string]any{
				{"entry": claimed[2].ID, "o": rsredis.Record(placed[2]), "error": cause.Error()},
				{"entry": claimed[3].ID, "o": "junk", "error": claimed[3].Err.Error()},
			}
			if diff := cmp.Diff(wantDead, got); diff != "" {
				t.Errorf("dead letters (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnsureStreamKeepsTheHigherLastID: reconcile raises a rebuilt stream's last id to what Postgres has seen,
// and leaves a stream whose entries are already past it alone (XSETID's refusal is that answer, not an error).
// miniredis has no XSETID, so this runs on the real server.
func TestEnsureStreamKeepsTheHigherLastID(t *testing.T) {
	f := realRedis(t)
	ctx := t.Context()
	p := 1
	lastID := func() string {
		t.Helper()
		info, err := f.rdb.XInfoStream(ctx, f.k.Stream(p)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return info.LastGeneratedID
	}
	if err := f.g.EnsureStream(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	if got := lastID(); got != "0-0" {
		t.Fatalf("new stream's last id %s, want 0-0", got)
	}
	if err := f.g.EnsureStream(ctx, p, "500-0"); err != nil {
		t.Fatal(err)
	}
	if got := lastID(); got != "500-0" {
		t.Fatalf("last id %s after ensuring at least 500-0", got)
	}
	if err := f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.k.Stream(p), ID: "600-0", Values: map[string]any{"o": "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.g.EnsureStream(ctx, p, "400-0"); err != nil {
		t.Fatalf("ensuring at least 400-0 of a stream at 600-0: %v; want no error", err)
	}
	if got := lastID(); got != "600-0" {
		t.Fatalf("last id %s after ensuring at least 400-0; want 600-0 kept", got)
	}
}

// TestAckKeepsWhatNoConsumerRead: trimming after an acknowledgement keeps the entries no consumer has read yet,
// even when nothing is pending in the group.
func TestAckKeepsWhatNoConsumerRead(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := t.Context()
			s := rsredis.NewStreams(f.rdb, f.k)
			p := f.k.Partition(discID)
			if err := s.EnsureGroup(ctx, p); err != nil {
				t.Fatal(err)
			}
			f.load(*liveDisc(discID, 10), nil)
			for i := range 2 {
				f.mustReserve(request(buyer+int64(i), discID, 1, ""))
			}
			read, err := s.ReadNew(ctx, p, "a", -1, 2)
			if err != nil || len(read) != 2 {
				t.Fatalf("read %d entries (err %v); want 2", len(read), err)
			}
			late := f.mustReserve(request(other+10, discID, 1, "")) // after the read: not delivered
			if err := s.AckAndDrop(ctx, p, read); err != nil {
				t.Fatal(err)
			}
			left, err := f.rdb.XRange(ctx, f.k.Stream(p), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 1 || left[0].Values["o"] != rsredis.Record(late) {
				t.Fatalf("stream after acknowledging what was read: %v; want only the order placed after the read", left)
			}
		})
	}
}
