// Package service holds recordshop's rules: the catalog, customers, orders and the stock relay between
// Postgres and Redis. It takes context.Context and plain model types, and declares the small interfaces it
// needs from dal.
package service

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// DiscStore is what the catalog needs from the Postgres discs repository.
type DiscStore interface {
	Create(ctx context.Context, in model.DiscCreate) (model.Disc, error)
	Get(ctx context.Context, id int64) (model.Disc, error)
	List(ctx context.Context, q model.DiscQuery) (model.List[model.Disc], error)
	Update(ctx context.Context, id int64, p model.DiscPatch, guard model.StockGuard) (model.Disc, error)
	Restock(ctx context.Context, id, delta int64, guard model.StockGuard) (model.Disc, error)
	Archive(ctx context.Context, id int64) (model.Disc, error)
	RemoveIfUnordered(ctx context.Context, id int64) (bool, error)
}

// Catalog manages the discs for sale. Postgres is the source of truth; in Redis mode every change is carried
// to the stock gate right after it commits (the relay retries whatever that misses), and `available` is
// Redis' live count.
type Catalog struct {
	discs DiscStore
	relay *Relay        // nil in Postgres mode
	gate  *rsredis.Gate // nil in Postgres mode
	log   *zap.Logger
}

// NewCatalog returns the catalog service. relay and gate are nil in Postgres mode.
func NewCatalog(discs DiscStore, relay *Relay, gate *rsredis.Gate, log *zap.Logger) *Catalog {
	return &Catalog{discs: discs, relay: relay, gate: gate, log: log}
}

// Create adds a validated disc and puts it in Redis.
func (s *Catalog) Create(ctx context.Context, in model.DiscCreate) (model.Disc, error) {
	d, err := s.discs.Create(ctx, in)
	if err == nil {
		s.sync(ctx, d.ID)
	}
	return d, err
}

// Get returns one disc with its live available count.
func (s *Catalog) Get(ctx context.Context, id int64) (model.Disc, error) {
	d, err := s.discs.Get(ctx, id)
	if err != nil {
		return d, err
	}
	ds := []model.Disc{d}
	s.withAvailable(ctx, ds)
	return ds[0], nil
}

// List returns one page of discs with their live available counts.
func (s *Catalog) List(ctx context.Context, q model.DiscQuery) (model.List[model.Disc], error) {
	list, err := s.discs.List(ctx, q)
	if err == nil {
		s.withAvailable(ctx, list.Items)
	}
	return list, err
}

// Update changes the fields given in p; a lower stock is checked against Redis' live count first.
func (s *Catalog) Update(ctx context.Context, id int64, p model.DiscPatch) (model.Disc, error) {
	return s.guarded(ctx, id, func(guard model.StockGuard) (model.Disc, error) { return s.discs.Update(ctx, id, p, guard) })
}

// Restock adds (or, negative, removes) units; stock never goes below zero, nor below what Redis already sold.
func (s *Catalog) Restock(ctx context.Context, id, delta int64) (model.Disc, error) {
	return s.guarded(ctx, id, func(guard model.StockGuard) (model.Disc, error) { return s.discs.Restock(ctx, id, delta, guard) })
}

// guardAttempts bounds how often a change whose guard found Redis behind is repeated before the client is told
// to retry (409 concurrent-change): each attempt can lose to one more concurrent change of the disc.
const guardAttempts = 5

// guarded runs a stock change with the relay's guard, catching Redis up between attempts when the guard found
// it behind a change that committed concurrently.
func (s *Catalog) guarded(ctx context.Context, id int64, change func(model.StockGuard) (model.Disc, error)) (model.Disc, error) {
	var guard model.StockGuard // none in Postgres mode: Postgres is the live count
	if s.relay != nil {
		guard = s.relay.Guard
	}
	for attempt := 1; ; attempt++ {
		d, err := change(guard)
		if !errors.Is(err, errBehind) {
			return s.changed(ctx, d, err)
		}
		if attempt == guardAttempts {
			return d, fmt.Errorf("catalog: disc %d: %w", id, model.ErrConcurrentChange)
		}
		if err := s.relay.CatchUp(ctx, id); err != nil {
			return d, err
		}
	}
}

// Delete takes a disc off sale. It archives it first, so Redis stops selling it, and then removes it when
// nobody ever bought it (in Postgres or, not yet flushed, in Redis); archived reports which happened.
func (s *Catalog) Delete(ctx context.Context, id int64) (archived bool, d model.Disc, err error) {
	d, err = s.discs.Archive(ctx, id)
	if err != nil {
		return false, d, err
	}
	if s.relay != nil {
		if err := s.relay.SyncDisc(ctx, id); err != nil {
			return true, d, nil // Redis may still sell it until the relay catches up: keep it archived
		}
		if sold, err := s.gate.HasSales(ctx, id); err != nil || sold {
			return true, d, nil
		}
	}
	removed, err := s.discs.RemoveIfUnordered(ctx, id)
	if err != nil || !removed {
		return true, d, err
	}
	if s.gate != nil {
		if err := s.gate.Forget(ctx, id); err != nil {
			s.log.Warn("removed disc left keys in redis", zap.Int64("disc", id), zap.Error(err))
		}
	}
	return false, d, nil
}

func (s *Catalog) changed(ctx context.Context, d model.Disc, err error) (model.Disc, error) {
	if err != nil {
		return d, err
	}
	s.sync(ctx, d.ID)
	ds := []model.Disc{d}
	s.withAvailable(ctx, ds)
	return ds[0], nil
}

// sync carries a committed change to Redis now; if that fails the relay retries it, so it only logs.
func (s *Catalog) sync(ctx context.Context, id int64) {
	if s.relay == nil {
		return
	}
	if err := s.relay.SyncDisc(ctx, id); err != nil {
		s.log.Warn("stock change left for the relay", zap.Int64("disc", id), zap.Error(err))
	}
}

// withAvailable sets each disc's live available count from Redis (one round trip). An archived disc has
// none; a disc Redis does not hold yet keeps its Postgres stock; in Postgres mode stock is the live count.
func (s *Catalog) withAvailable(ctx context.Context, ds []model.Disc) {
	if s.gate == nil || len(ds) == 0 {
		return
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	avail, err := s.gate.Available(ctx, ids)
	if err != nil {
		s.log.Warn("available counts from redis", zap.Error(err))
		return
	}
	for i := range ds {
		if n, ok := avail[ds[i].ID]; ok && !ds[i].Archived {
			ds[i].Available = n
		}
	}
}
