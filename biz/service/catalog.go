package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
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
	// Sold reports whether Postgres holds any order of the disc.
	Sold(ctx context.Context, id int64) (bool, error)
}

// LiveStock is the count that sells, as the catalog sees it. In Redis mode it is Redis' (RedisStock): every
// committed change of a disc is carried there, a change that takes units away is checked against it first,
// and it says what is available. In Postgres mode Postgres' own stock is the count (PostgresStock), so
// there is nothing to carry, guard or forget.
type LiveStock interface {
	StockSync
	// Guard is the check a change that takes units away runs inside its transaction (dal/pg takes a nil
	// guard as none). It may answer errBehind: CatchUp, then repeat the change.
	Guard() model.StockGuard
	// CatchUp brings one disc's live count up to Postgres' committed state.
	CatchUp(ctx context.Context, discID int64) error
	// Available returns the live count of each of discIDs that the live side holds; a disc it does not hold
	// is left out.
	Available(ctx context.Context, discIDs []int64) (map[int64]int64, error)
	// HasSales tells whether a disc has confirmed orders that Postgres may not have yet.
	HasSales(ctx context.Context, discID int64) (bool, error)
	// Forget drops what the live side holds of a disc that was removed.
	Forget(ctx context.Context, discID int64) error
}

// Catalog manages the discs for sale. Postgres is the source of truth; every change is carried to the live
// count right after it commits (in Redis mode the relay retries whatever that misses), and `available` is the
// live count.
type Catalog struct {
	discs DiscStore
	live  LiveStock
	log   *zap.Logger
}

// NewCatalog returns the catalog service.
func NewCatalog(discs DiscStore, live LiveStock, log *zap.Logger) *Catalog {
	return &Catalog{discs: discs, live: live, log: log}
}

// Create adds a validated disc and carries it to the live count; its available count is read back like
// any change's, so that a disc created while Redis is down says its count is unknown.
func (s *Catalog) Create(ctx context.Context, in model.DiscCreate) (model.Disc, error) {
	d, err := s.discs.Create(ctx, in)
	return s.changed(ctx, d, err)
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

// Update changes the fields given in p; a lower stock is checked against the live count first.
func (s *Catalog) Update(ctx context.Context, id int64, p model.DiscPatch) (model.Disc, error) {
	if p.PerCustomerLimit != nil && *p.PerCustomerLimit > 0 {
		if err := s.limitAllowed(ctx, id); err != nil {
			return model.Disc{}, err
		}
	}
	return s.guarded(ctx, id, func(guard model.StockGuard) (model.Disc, error) { return s.discs.Update(ctx, id, p, guard) })
}

// limitAllowed refuses a per-customer limit for a disc that has sold units without one (model.ErrLimitAfterSales):
// Redis counts a customer's units only while a disc has a limit, so the units bought before it would not
// count against it. A disc that has a limit may change it freely.
func (s *Catalog) limitAllowed(ctx context.Context, id int64) error {
	d, err := s.discs.Get(ctx, id)
	if err != nil || d.PerCustomerLimit > 0 {
		return err
	}
	sold, err := s.discs.Sold(ctx, id)
	if err == nil && !sold {
		sold, err = s.live.HasSales(ctx, id)
	}
	if err != nil {
		return err
	}
	if sold {
		return fmt.Errorf("catalog: disc %d: %w", id, model.ErrLimitAfterSales)
	}
	return nil
}

// Restock adds (or, negative, removes) units; stock never goes below zero, nor below what the live count
// already sold.
func (s *Catalog) Restock(ctx context.Context, id, delta int64) (model.Disc, error) {
	return s.guarded(ctx, id, func(guard model.StockGuard) (model.Disc, error) { return s.discs.Restock(ctx, id, delta, guard) })
}

// guardAttempts bounds how often a change whose guard found Redis behind is repeated before the client is told
// to retry (409 concurrent-change): each attempt can lose to one more concurrent change of the disc.
const guardAttempts = 5

// guarded runs a stock change with the live count's guard, catching it up between attempts when the guard
// found it behind a change that committed concurrently.
func (s *Catalog) guarded(ctx context.Context, id int64, change func(model.StockGuard) (model.Disc, error)) (model.Disc, error) {
	guard := s.live.Guard()
	for attempt := 1; ; attempt++ {
		d, err := change(guard)
		if !errors.Is(err, errBehind) {
			return s.changed(ctx, d, err)
		}
		if attempt == guardAttempts {
			return d, fmt.Errorf("catalog: disc %d: %w", id, model.ErrConcurrentChange)
		}
		if err := s.live.CatchUp(ctx, id); err != nil {
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
	if err := s.live.Sync(ctx, id); err != nil {
		return true, d, nil // Redis may still sell it until the relay catches up: keep it archived
	}
	if sold, err := s.live.HasSales(ctx, id); err != nil || sold {
		return true, d, nil
	}
	removed, err := s.discs.RemoveIfUnordered(ctx, id)
	if err != nil || !removed {
		return true, d, err
	}
	if err := s.live.Forget(ctx, id); err != nil {
		s.log.Warn("removed disc left keys in redis", zap.Int64("disc", id), zap.Error(err))
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

// sync carries a committed change to the live count now; if that fails the relay retries it, so it only logs.
func (s *Catalog) sync(ctx context.Context, id int64) {
	if err := s.live.Sync(ctx, id); err != nil {
		s.log.Warn("stock change left for the relay", zap.Int64("disc", id), zap.Error(err))
	}
}

// liveReadTimeout bounds the read of the live counts for a catalog answer. A healthy Redis answers in well under a
// millisecond; an unreachable one would hold every GET of a disc for go-redis' dial retries (2.5-3.5 s measured),
// piling requests up on a launch day, where "unknown" at once is the honest answer.
const liveReadTimeout = 300 * time.Millisecond

// withAvailable sets each disc's available count from the live side (in Redis mode one round trip). An
// archived disc has none; a disc the live side does not hold keeps its Postgres stock. When the live side
// cannot be read (Redis down or unreachable), each disc on sale says its count is unknown instead: Postgres'
// stock lags Redis by every order not yet written, which on a launch day is most of them, so showing it
// would show a sold-out disc as in stock.
func (s *Catalog) withAvailable(ctx context.Context, ds []model.Disc) {
	if len(ds) == 0 {
		return
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	rctx, cancel := context.WithTimeout(ctx, liveReadTimeout)
	avail, err := s.live.Available(rctx, ids)
	cancel()
	if err != nil {
		s.log.Warn("available counts from redis", zap.Error(err))
		for i := range ds {
			if !ds[i].Archived {
				ds[i].Availability = model.AvailabilityUnknown
			}
		}
		return
	}
	for i := range ds {
		if n, ok := avail[ds[i].ID]; ok && !ds[i].Archived {
			ds[i].Available = n
		}
	}
}
