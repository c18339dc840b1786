package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/scripts/lua"
)

// replicasOf counts the replicas connected to the primary that holds key: a cluster shard's primary, or the one
// server (none in the single-Redis pass, one in the cluster pass).
func replicasOf(t *testing.T, rdb goredis.UniversalClient, key string) int {
	t.Helper()
	node, ok := rdb.(*goredis.Client)
	if c, isCluster := rdb.(*goredis.ClusterClient); isCluster {
		var err error
		if node, err = c.MasterForKey(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		ok = true
	}
	if !ok {
		t.Fatalf("no server behind %T", rdb)
	}
	info, err := node.Info(t.Context(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, found := strings.CutPrefix(line, "connected_slaves:"); found {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("connected_slaves %q", v)
			}
			return n
		}
	}
	t.Fatalf("no connected_slaves in INFO replication:\n%s", info)
	return 0
}

// TestReserveWaitsForReplicas: a gate that must hear from more replicas than there are takes the units (the
// reservation happened on the primary) but does not confirm it: the answer is "outcome unknown", which tells
// the buyer to repeat with the same Idempotency-Key. The repeat replays, never takes the units twice, and is
// confirmed once the replicas it needs have the order.
func TestReserveWaitsForReplicas(t *testing.T) {
	f := realRedis(t)
	ctx := t.Context()
	f.load(*liveDisc(discID, 10), nil)
	have := replicasOf(t, f.rdb, f.k.Disc(discID))
	tooMany := f.g.WithReplication(rsredis.Replication{Replicas: have + 1, Timeout: 50 * time.Millisecond})
	enough := f.g.WithReplication(rsredis.Replication{Replicas: have, Timeout: time.Second})

	r := request(buyer, discID, 3, "wait-1")
	_, err := tooMany.Reserve(ctx, r)
	if !errors.Is(err, rsredis.ErrNotReplicated) || !errors.Is(err, model.ErrOutcomeUnknown) {
		t.Fatalf("reserve waiting for %d replicas of %d: err %v; want ErrNotReplicated and ErrOutcomeUnknown", have+1, have, err)
	}
	if avail, err := f.g.Available(ctx, []int64{discID}); err != nil || avail[discID] != 7 {
		t.Fatalf("avail %v (err %v) after the unconfirmed reservation; want 7: the primary took the units", avail, err)
	}

	// The buyer repeats (a new order id, as a client's retry carries only the key and the body).
	again := request(buyer, discID, 3, "wait-1")
	if _, err := tooMany.Reserve(ctx, again); !errors.Is(err, rsredis.ErrNotReplicated) {
		t.Fatalf("replay still short of replicas: err %v; want ErrNotReplicated (a replay waits too)", err)
	}
	res, err := enough.Reserve(ctx, again)
	if err != nil || res.Code != rsredis.Replayed || res.Order.ID != r.Order.ID {
		t.Fatalf("replay with %d replicas: code %d, order %v, err %v; want the first order replayed", have, res.Code, res.Order.ID, err)
	}
	if avail, err := f.g.Available(ctx, []int64{discID}); err != nil || avail[discID] != 7 {
		t.Errorf("avail %v (err %v) after the replays; want 7", avail, err)
	}
	// A refusal writes nothing, so it has nothing to wait for and is answered whatever the replicas do.
	if res, err := tooMany.Reserve(ctx, request(buyer, discID, 8, "")); err != nil || res.Code != rsredis.SoldOut {
		t.Errorf("sold-out refusal through the waiting gate: code %d, err %v; want SoldOut", res.Code, err)
	}
}

// TestReserveWaitAfterScriptFlush: a promoted replica has an empty script cache. The waiting gate pipelines
// EVALSHA with WAIT; on NOSCRIPT it must run the script again with EVAL (and WAIT), once.
func TestReserveWaitAfterScriptFlush(t *testing.T) {
	f := realRedis(t)
	ctx := t.Context()
	f.load(*liveDisc(discID, 5), nil)
	have := replicasOf(t, f.rdb, f.k.Disc(discID))
	// At least one replica is waited for, so that the pipelined path runs even on one server; there the wait
	// falls short, which the answer says, after the script ran.
	g := f.g.WithReplication(rsredis.Replication{Replicas: max(have, 1), Timeout: 50 * time.Millisecond})
	if err := f.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if cached, err := f.rdb.ScriptExists(ctx, goredis.NewScript(lua.Reserve).Hash()).Result(); err != nil || cached[0] {
		t.Fatalf("reserve.lua still cached after SCRIPT FLUSH (%v, %v)", cached, err)
	}
	res, err := g.Reserve(ctx, request(buyer, discID, 2, "flushed"))
	switch {
	case have == 0 && errors.Is(err, rsredis.ErrNotReplicated):
	case have > 0 && err == nil && res.Code == rsredis.Reserved:
	default:
		t.Fatalf("reserve after SCRIPT FLUSH with %d replicas: code %d, err %v", have, res.Code, err)
	}
	if avail, err := f.g.Available(ctx, []int64{discID}); err != nil || avail[discID] != 3 {
		t.Errorf("avail %v (err %v); want 3: the script ran exactly once", avail, err)
	}
}

// TestWaitGivesUpAtTheDeadline: with the primary unreachable the waiting gate retries only what never ran,
// and stops at the caller's deadline.
func TestWaitGivesUpAtTheDeadline(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	g := rsredis.NewGate(rdb, rsredis.Keys{Namespace: "t:", Partitions: partitions}).
		WithReplication(rsredis.Replication{Replicas: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := g.Reserve(ctx, request(buyer, discID, 1, "k"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, model.ErrOutcomeUnknown) {
		t.Fatalf("reserve against a closed port: %v; want the deadline, as outcome unknown", err)
	}
}

// TestShortOfReplicas: a gate that waits for more replicas than a primary has names that primary; one that waits
// for as many as there are, or none, names nothing.
func TestShortOfReplicas(t *testing.T) {
	f := realRedis(t)
	have := replicasOf(t, f.rdb, f.k.Disc(discID))
	short, err := f.g.WithReplication(rsredis.Replication{Replicas: have + 1}).ShortOfReplicas(t.Context())
	if err != nil || len(short) == 0 {
		t.Fatalf("waiting for %d replicas of %d: short %v, err %v; want the primaries named", have+1, have, short, err)
	}
	for _, r := range []int{have, 0} {
		if short, err := f.g.WithReplication(rsredis.Replication{Replicas: r}).ShortOfReplicas(t.Context()); err != nil || len(short) != 0 {
			t.Errorf("waiting for %d replicas with %d: short %v, err %v; want none", r, have, short, err)
		}
	}
}
