package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
)

// repairKind names what one repair changes in Redis.
type repairKind int

const (
	requeueDeadLetters repairKind = iota + 1 // put a partition's dead letters back on its stream
	loadDisc                                 // load a disc Redis lacks
	reloadDisc                               // replace a disc Redis holds at a version Postgres never committed
	adjustDisc                               // add corrections to a disc's available units and customers' units
)

// repair is one change of Redis, planned from a report before any is applied.
type repair struct {
	kind      repairKind
	partition int             // requeueDeadLetters
	disc      int64           // loadDisc, reloadDisc, adjustDisc
	avail     int64           // adjustDisc: added to the available units
	customers map[int64]int64 // adjustDisc: added to each customer's units
}

// planRepairs turns a report into the repairs that make Redis agree with Postgres again, in report order. A
// broken ledger and stuck work get none of their own: Postgres is the truth, and the catch-up that precedes
// every repair (the relay applying what is left in the outbox) is what unsticks events.
func planRepairs(rep Report) []repair {
	var plan []repair
	requeued := map[int]bool{}
	for _, d := range rep.Problems {
		switch {
		case d.Verdict == VerdictDeadLetter && !requeued[d.Partition]:
			requeued[d.Partition] = true
			plan = append(plan, repair{kind: requeueDeadLetters, partition: d.Partition})
		case d.Verdict == VerdictMissing:
			plan = append(plan, repair{kind: loadDisc, disc: d.DiscID})
		case d.Verdict == VerdictDrift && d.versionAhead:
			plan = append(plan, repair{kind: reloadDisc, disc: d.DiscID})
		case d.Verdict == VerdictDrift:
			// Additive, so the orders that arrive meanwhile stay counted.
			f := repair{kind: adjustDisc, disc: d.DiscID, avail: -d.Drift}
			for _, c := range d.Customers {
				if f.customers == nil {
					f.customers = map[int64]int64{}
				}
				f.customers[c.CustomerID] = c.Expected - c.Redis
			}
			plan = append(plan, f)
		}
	}
	return plan
}

func (r *redisReconcile) fix(ctx context.Context, rep Report) (Report, error) {
	plan := planRepairs(rep)
	if _, err := r.redis.Loader.SyncAll(ctx); err != nil {
		return rep, err
	}
	if err := r.redis.SyncInactive(ctx); err != nil {
		return rep, err
	}
	var fixed []string
	for _, f := range plan {
		change, err := r.apply(ctx, f)
		if err != nil {
			return rep, err
		}
		if change == "" {
			continue
		}
		fixed = append(fixed, change)
		r.log.Warn("reconcile repaired redis", zap.String("change", change))
	}
	after, err := r.check(ctx, 0)
	after.Fixed = fixed
	return after, err
}

// apply makes one repair and says what changed ("" when nothing did: a disc gone from Redis is not adjusted).
func (r *redisReconcile) apply(ctx context.Context, f repair) (string, error) {
	switch f.kind {
	case requeueDeadLetters:
		n, err := r.redis.Repairs.RequeueDeadLetters(ctx, f.partition, func(orders []model.Order) (map[string]bool, error) {
			return r.inPostgres(ctx, orders)
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("partition %d: %d dead letters put back on the stream for the writer", f.partition, n), nil
	case loadDisc:
		if err := r.redis.Loader.Load(ctx, f.disc); err != nil {
			return "", err
		}
		return fmt.Sprintf("disc %d: loaded into redis", f.disc), nil
	case reloadDisc:
		if err := r.redis.Repairs.Forget(ctx, f.disc); err != nil {
			return "", err
		}
		if err := r.redis.Loader.Load(ctx, f.disc); err != nil {
			return "", err
		}
		return fmt.Sprintf("disc %d: reloaded from postgres (redis was at a version postgres never committed)", f.disc), nil
	case adjustDisc:
		ok, err := r.redis.Repairs.Adjust(ctx, f.disc, f.avail, f.customers)
		if err != nil || !ok {
			return "", err
		}
		change := fmt.Sprintf("disc %d: available %+d", f.disc, f.avail)
		customers := make([]int64, 0, len(f.customers))
		for c := range f.customers {
			customers = append(customers, c)
		}
		slices.Sort(customers)
		for _, c := range customers {
			change += fmt.Sprintf(", customer %d units %+d", c, f.customers[c])
		}
		return change, nil
	}
	return "", fmt.Errorf("reconcile: unknown repair %d", f.kind)
}

// inPostgres tells which of some dead-lettered orders Postgres has (their dead letters are dropped, not
// requeued).
func (r *redisReconcile) inPostgres(ctx context.Context, orders []model.Order) (map[string]bool, error) {
	ids := make([]uuid.UUID, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	have, err := r.orders.Existing(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(have))
	for id := range have {
		out[id.String()] = true
	}
	return out, nil
}

func (r *redisReconcile) rebuild(ctx context.Context) (Report, error) {
	if err := r.redis.Repairs.ClaimPartitions(ctx); err != nil {
		return Report{}, err
	}
	// A Redis that lost its data would restart its stream ids below orders Postgres already has.
	last, err := r.orders.LastStreamIDs(ctx)
	if err != nil {
		return Report{}, err
	}
	for p := 0; p < r.redis.Snapshots.Keys().Partitions; p++ {
		if err := r.redis.Repairs.EnsureStream(ctx, p, last[p]); err != nil {
			return Report{}, err
		}
	}
	ids, err := r.discs.AllIDs(ctx)
	if err != nil {
		return Report{}, err
	}
	if err := r.redis.Repairs.ForgetAll(ctx, ids); err != nil {
		return Report{}, err
	}
	if err := r.redis.Loader.LoadAll(ctx, ids); err != nil {
		return Report{}, err
	}
	if err := r.redis.SyncInactive(ctx); err != nil {
		return Report{}, err
	}
	r.log.Warn("reconcile rebuilt redis from postgres", zap.Int("discs", len(ids)))
	rep, err := r.check(ctx, 0)
	rep.Fixed = []string{fmt.Sprintf("rebuilt %d discs and the inactive customers from postgres", len(ids))}
	return rep, err
}
