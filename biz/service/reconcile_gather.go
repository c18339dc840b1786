package service

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// evidence is what one look read of some discs of one partition: Redis at one instant, then the Postgres
// ledger of the same discs in one snapshot taken after it. Plain values: judge reads nothing else.
type evidence struct {
	Discs     []int64          // the discs looked at, in report order
	Redis     rsredis.Snapshot // the discs, stream position, pending orders and dead letters, at one instant
	Ledger    map[int64]*pg.LedgerDisc
	Persisted map[uuid.UUID]bool // which of Redis' pending orders Postgres had by the time the ledger was read
	// StuckBefore is the instant before which a pending order counts as stuck (now less StuckAfter).
	StuckBefore time.Time
}

// gather reads Redis first and Postgres after: the ledger query carries the snapshot's stream position, the
// disc versions Redis had applied and its pending orders, so Postgres can say what happened since.
func (r *redisReconcile) gather(ctx context.Context, p int, ids []int64) (evidence, error) {
	snap, err := r.redis.Snapshots.Snapshot(ctx, p, ids)
	if err != nil {
		return evidence{}, err
	}
	evs, err := r.withLedger(ctx, []looked{{p: p, ids: ids, snap: snap}})
	if err != nil {
		return evidence{}, err
	}
	return evs[0], nil
}

// looked is one chunk of discs of one partition as a Redis snapshot saw them.
type looked struct {
	p    int
	ids  []int64
	snap rsredis.Snapshot
}

// withLedger reads the Postgres ledger of every chunk in one snapshot taken after all of theirs (the formula
// holds for any ledger read after the Redis snapshot), and returns each chunk's evidence.
func (r *redisReconcile) withLedger(ctx context.Context, chunks []looked) ([]evidence, error) {
	qs := make([]pg.LedgerQuery, len(chunks))
	for i, c := range chunks {
		versions := make(map[int64]int64, len(c.ids))
		for id, d := range c.snap.Discs {
			versions[id] = d.Version
		}
		pendingIDs := make([]uuid.UUID, len(c.snap.Pending))
		for j, o := range c.snap.Pending {
			pendingIDs[j] = o.ID
		}
		qs[i] = pg.LedgerQuery{Partition: c.p, DiscIDs: c.ids, RedisVersion: versions, LastID: c.snap.LastID,
			PendingIDs: pendingIDs, StuckAfter: r.cfg.StuckAfter, Full: r.cfg.Full, Some: someBuyers(c.snap),
			Partitions: r.redis.Snapshots.Keys().Partitions}
	}
	// Two ledger reads at once, each of half the partitions in a snapshot of its own (each taken after every
	// Redis snapshot, which is all the formula needs): Postgres and the decoding of its rows use both cores.
	groups := [2][]int{}
	for i, c := range chunks {
		g := c.p % 2
		groups[g] = append(groups[g], i)
	}
	evs := make([]evidence, len(chunks))
	stuckBefore := r.now().Add(-r.cfg.StuckAfter)
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for g, members := range groups {
		if len(members) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			gqs := make([]pg.LedgerQuery, len(members))
			for j, i := range members {
				gqs[j] = qs[i]
			}
			ledger, persisted, err := r.discs.Ledger(ctx, gqs...)
			if err != nil {
				errs[g] = err
				return
			}
			for _, i := range members {
				c := chunks[i]
				evs[i] = evidence{Discs: c.ids, Redis: c.snap, Ledger: ledger, Persisted: persisted, StuckBefore: stuckBefore}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return evs, nil
}

// someBuyers names, for each disc of which Redis holds only some buyers, the customers judge compares: those
// Redis holds, and those of its pending orders and dead letters (Redis must hold them).
func someBuyers(snap rsredis.Snapshot) map[int64][]int64 {
	some := map[int64][]int64{}
	for id, d := range snap.Discs {
		if d.Partial {
			some[id] = slices.Collect(maps.Keys(d.Bought))
		}
	}
	for _, o := range slices.Concat(snap.Pending, snap.Dead) {
		if customers, ok := some[o.DiscID]; ok {
			some[o.DiscID] = append(customers, o.CustomerID)
		}
	}
	return some
}
