package service

import (
	"context"
	"maps"
	"slices"
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
	versions := make(map[int64]int64, len(ids))
	for id, d := range snap.Discs {
		versions[id] = d.Version
	}
	pendingIDs := make([]uuid.UUID, len(snap.Pending))
	for i, o := range snap.Pending {
		pendingIDs[i] = o.ID
	}
	ledger, persisted, err := r.discs.Ledger(ctx, pg.LedgerQuery{Partition: p, DiscIDs: ids, RedisVersion: versions,
		LastID: snap.LastID, PendingIDs: pendingIDs, StuckAfter: r.cfg.StuckAfter, Full: r.cfg.Full, Some: someBuyers(snap)})
	if err != nil {
		return evidence{}, err
	}
	return evidence{Discs: ids, Redis: snap, Ledger: ledger, Persisted: persisted,
		StuckBefore: r.now().Add(-r.cfg.StuckAfter)}, nil
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
