package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// EventStore is what the relay needs from the Postgres stock_events outbox.
type EventStore interface {
	// Unapplied returns up to limit unapplied events of one disc (every disc when discID is 0), each disc's
	// in version order.
	Unapplied(ctx context.Context, discID int64, limit int) ([]model.StockEvent, error)
	MarkApplied(ctx context.Context, discID, version int64) error
	// MarkAppliedAll is MarkApplied of many discs in one statement (disc id -> version).
	MarkAppliedAll(ctx context.Context, versions map[int64]int64) error
}

// DiscReader is what the relay needs to load discs whole.
type DiscReader interface {
	// LoadStates reads many discs for loading, with their ledgers (every buyer of a disc with a limit up to
	// buyersMax, else the buyers of its pending orders), in one snapshot and a few set-based queries; discs
	// that do not exist are left out.
	LoadStates(ctx context.Context, discIDs []int64, pending []model.Order, buyersMax int) (map[int64]*pg.DiscLoad, map[uuid.UUID]bool, error)
}

// StockGate is what the relay needs from the Redis stock gate (*rsredis.Gate): apply.lua, loading a disc
// whole, which discs Redis holds, and the orders it confirmed that Postgres may not have yet.
type StockGate interface {
	Apply(ctx context.Context, c rsredis.Change) (rsredis.ApplyCode, int64, error)
	Load(ctx context.Context, s rsredis.DiscState, bought map[int64]int64) (bool, error)
	Available(ctx context.Context, discIDs []int64) (map[int64]int64, error)
	PendingOrders(ctx context.Context, discID int64) ([]model.Order, error)
	// LoadAll and PendingAll are Load and PendingOrders for many discs, a round trip per partition.
	LoadAll(ctx context.Context, items []rsredis.LoadItem) (map[int64]bool, error)
	PendingAll(ctx context.Context) (map[int64][]model.Order, error)
	Keys() rsredis.Keys
}

// Relay carries stock changes that start in Postgres (the stock_events outbox) to Redis, exactly once and in
// version order, and loads discs Redis does not have.
type Relay struct {
	events    EventStore
	discs     DiscReader
	gate      StockGate
	log       *zap.Logger
	buyersMax int
	unitsBack func(discID int64) // told when a change gives a disc units (nil: nobody listens)
}

// OnUnitsBack has f told, after Redis applied it, of every change that gave a disc units (a restock, a cancel,
// an adjust upwards, a load): the order path's sold-out marks listen.
func (r *Relay) OnUnitsBack(f func(discID int64)) { r.unitsBack = f }

func (r *Relay) tellUnitsBack(discID int64) {
	if r.unitsBack != nil {
		r.unitsBack(discID)
	}
}

// NewRelay returns the relay.
func NewRelay(events EventStore, discs DiscReader, gate StockGate, log *zap.Logger) *Relay {
	return &Relay{events: events, discs: discs, gate: gate, log: log, buyersMax: LoadBuyersMax}
}

// LoadBuyersMax is how many past buyers of a disc with a per-customer limit a load puts into Redis: every one
// up to it (about 50 B of Redis each, so at most about 2.5 MB a disc), which covers a launch's buyers and
// answers each from Redis alone; beyond it none but the buyers of pending orders, so that a disc that sold
// to a million customers over the years loads in what its current sale costs. A buyer Redis lacks then
// costs their first order one Postgres read (reserve.lua's known flag).
const LoadBuyersMax = 50_000

// SetLoadBuyersMax changes LoadBuyersMax for this relay (tests of the partial load use a small one).
func (r *Relay) SetLoadBuyersMax(n int) { r.buyersMax = n }

// relayBatch bounds one pass over the outbox.
const relayBatch = 500

// SyncDisc applies every unapplied event of one disc; the catalog calls it right after a change commits.
func (r *Relay) SyncDisc(ctx context.Context, discID int64) error {
	_, err := r.sync(ctx, discID)
	return err
}

// SyncAll applies every unapplied event of every disc; it returns how many events it handled.
func (r *Relay) SyncAll(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.sync(ctx, 0)
		total += n
		if err != nil || n < relayBatch {
			return total, err
		}
	}
}

func (r *Relay) sync(ctx context.Context, discID int64) (int, error) {
	events, err := r.events.Unapplied(ctx, discID, relayBatch)
	if err != nil {
		return 0, err
	}
	stuck := map[int64]bool{} // discs whose earlier event failed: later ones must wait
	for _, e := range events {
		if stuck[e.DiscID] {
			continue
		}
		if err := r.apply(ctx, e); err != nil {
			stuck[e.DiscID] = true
			if ctx.Err() != nil {
				return len(events), err
			}
			r.log.Warn("stock event not applied to redis", zap.Int64("disc", e.DiscID), zap.Int64("version", e.Version), zap.Error(err))
		}
	}
	return len(events), nil
}

// apply carries one event. A disc Redis does not have is loaded whole, which covers this event and every
// earlier one.
func (r *Relay) apply(ctx context.Context, e model.StockEvent) error {
	change := rsredis.Change{Disc: discState(e.Disc, e.Version), Delta: e.Delta}
	if e.Reason == "cancel" {
		change.CustomerID, change.CustomerDelta = e.CustomerID, -e.Delta
	}
	code, applied, err := r.gate.Apply(ctx, change)
	if err != nil {
		return err
	}
	switch code {
	case rsredis.Applied, rsredis.Duplicate:
		if e.Delta > 0 {
			r.tellUnitsBack(e.DiscID)
		}
		return r.events.MarkApplied(ctx, e.DiscID, e.Version)
	case rsredis.Missing:
		defer r.tellUnitsBack(e.DiscID)
		return r.Load(ctx, e.DiscID)
	case rsredis.Gap:
		return fmt.Errorf("redis has version %d of disc %d, so version %d cannot apply: run recordshop reconcile --fix", applied, e.DiscID, e.Version)
	}
	return fmt.Errorf("apply.lua answered %d", code)
}

// Load puts a disc Redis does not have into it whole, from Postgres: avail is the Postgres stock less the units
// Redis confirmed that Postgres does not have yet; bought is likewise. A disc Redis has is left alone. Either
// way every event up to the version loaded is applied.
//
// Redis' pending orders are read first and Postgres after, in one snapshot that also says which of those orders
// it has by now: the writer may move some in between, and their units are then in the stock already. (No new
// order of the disc can arrive meanwhile: Redis refuses orders of a disc it does not hold.)
func (r *Relay) Load(ctx context.Context, discID int64) error {
	pending, err := r.gate.PendingOrders(ctx, discID)
	if err != nil {
		return err
	}
	return r.load(ctx, []int64{discID}, map[int64][]model.Order{discID: pending})
}

// LoadAll loads every disc of ids that Redis does not have (start-up, or after Redis lost its data), in bulk:
// one read of Redis' holdings and pending orders, a few set-based queries of Postgres per loadChunk discs,
// and a pipeline per partition, so that a cold start costs what the catalog costs, not a round trip per disc.
func (r *Relay) LoadAll(ctx context.Context, ids []int64) error {
	have, err := r.gate.Available(ctx, ids)
	if err != nil {
		return err
	}
	missing := make([]int64, 0, len(ids)-len(have))
	for _, id := range ids {
		if _, ok := have[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	pending, err := r.gate.PendingAll(ctx)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(missing, loadChunk) {
		if err := r.load(ctx, chunk, pending); err != nil {
			return err
		}
	}
	return nil
}

// loadChunk is how many discs one LoadAll step reads and writes: large enough that a step's round trips are
// few, small enough that its Postgres snapshot and Redis pipelines stay short.
const loadChunk = 5000

// load puts discIDs that Redis does not hold into it whole: stock less the orders Redis confirmed that
// Postgres does not have yet (pending, by disc), units per customer likewise. A disc Redis holds already is
// left to the relay's event by event application.
func (r *Relay) load(ctx context.Context, discIDs []int64, pending map[int64][]model.Order) error {
	var orders []model.Order
	for _, id := range discIDs {
		orders = append(orders, pending[id]...)
	}
	states, persisted, err := r.discs.LoadStates(ctx, discIDs, orders, r.buyersMax)
	if err != nil {
		return err
	}
	if len(discIDs) == 1 && len(states) == 0 {
		return fmt.Errorf("relay.load: disc %d: %w", discIDs[0], model.ErrNotFound)
	}
	items := make([]rsredis.LoadItem, 0, len(states))
	for _, id := range discIDs {
		l, ok := states[id]
		if !ok {
			continue // deleted meanwhile
		}
		state := discState(l.Disc, l.Ledger.Version)
		state.Avail = l.Ledger.Stock
		bought := maps.Clone(l.Ledger.Bought)
		for _, o := range pending[id] {
			if !persisted[o.ID] {
				state.Avail -= int64(o.Quantity)
				bought[o.CustomerID] += int64(o.Quantity)
			}
		}
		if state.Limit == 0 {
			bought = nil // Redis counts a customer's units only where a limit needs them
		}
		items = append(items, rsredis.LoadItem{State: state, Bought: bought, Partial: l.Ledger.Partial})
	}
	loaded, err := r.gate.LoadAll(ctx, items)
	if err != nil {
		return err
	}
	versions := make(map[int64]int64, len(loaded))
	for id := range loaded {
		versions[id] = states[id].Ledger.Version
	}
	if len(versions) == 0 {
		return nil
	}
	return r.events.MarkAppliedAll(ctx, versions)
}

// Run applies what is left in the outbox every interval until ctx ends (after a crash between commit and
// apply, or while Redis was down). It logs once when an outage starts and once when it ends.
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := r.SyncAll(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			r.log.Error("stock relay cannot reach a store; retrying", zap.Error(err))
		case err == nil && failing:
			failing = false
			r.log.Info("stock relay recovered", zap.Int("events", n))
		}
	}
}

// errBehind tells the catalog that Redis has not caught up with Postgres' committed changes of a disc, so a
// guarded change cannot be checked yet: catch up outside the transaction (CatchUp) and try again.
var errBehind = errors.New("redis is behind postgres for this disc")

// Guard checks a change that takes units away against Redis' live stock before Postgres commits it, and
// applies it there: a disc with units reserved in Redis but not yet flushed must not lose them.
//
// It runs inside the change's transaction, which holds the disc's row lock at version v: every earlier version
// has committed, but the change that committed just before may not have reached Redis yet (its own request
// applies it right after its commit, concurrently with this one), or Redis may not hold the disc at all. Then
// Guard answers errBehind, and the catalog rolls back, catches up and repeats the change. Catching up here
// would need a second Postgres connection while this one holds the lock, and a handful of concurrent changes
// would take every connection of the pool and wait on each other.
func (r *Relay) Guard(ctx context.Context, d model.Disc, delta int64) error {
	code, value, err := r.gate.Apply(ctx, rsredis.Change{Disc: discState(d, d.StockVersion), Delta: delta, Guard: true})
	if err != nil {
		return err
	}
	switch {
	case code == rsredis.Applied:
		return nil
	case code == rsredis.Short:
		return &model.InsufficientStockError{Stock: value}
	case code == rsredis.Missing, code == rsredis.Gap && value < d.StockVersion-1:
		return errBehind
	}
	// Redis is at or past this version: a guarded change was applied whose transaction never committed. Only
	// a reload from Postgres puts Redis back in step.
	return fmt.Errorf("disc %d: redis is at version %d, postgres at %d: run recordshop reconcile --fix", d.ID, value, d.StockVersion-1)
}

// CatchUp brings one disc in Redis up to Postgres' committed state: loads it when Redis lacks it, then applies
// its unapplied stock events in order.
func (r *Relay) CatchUp(ctx context.Context, discID int64) error {
	if err := r.LoadAll(ctx, []int64{discID}); err != nil {
		return err
	}
	return r.SyncDisc(ctx, discID)
}

func discState(d model.Disc, version int64) rsredis.DiscState {
	return rsredis.DiscState{ID: d.ID, Version: version, PriceCents: d.PriceCents, Limit: d.PerCustomerLimit,
		StartsAt: d.SaleStartsAt, Active: !d.Archived}
}

// LiveCounts is what RedisStock reads and drops in Redis besides what the relay does (*rsredis.Gate).
type LiveCounts interface {
	Available(ctx context.Context, discIDs []int64) (map[int64]int64, error)
	HasSales(ctx context.Context, discID int64) (bool, error)
	Forget(ctx context.Context, discID int64) error
}

// RedisStock is the LiveStock of a shop that reserves in Redis: the relay carries and guards changes, and
// Redis holds the count that sells.
type RedisStock struct {
	relay  *Relay
	counts LiveCounts
}

// NewRedisStock returns Redis as the live count.
func NewRedisStock(relay *Relay, counts LiveCounts) *RedisStock {
	return &RedisStock{relay: relay, counts: counts}
}

// Sync applies the disc's unapplied stock events to Redis now.
func (s *RedisStock) Sync(ctx context.Context, discID int64) error {
	return s.relay.SyncDisc(ctx, discID)
}

// Guard is the relay's guard (Relay.Guard).
func (s *RedisStock) Guard() model.StockGuard { return s.relay.Guard }

// CatchUp loads the disc into Redis when it lacks it and applies its unapplied events (Relay.CatchUp).
func (s *RedisStock) CatchUp(ctx context.Context, discID int64) error {
	return s.relay.CatchUp(ctx, discID)
}

// Available returns Redis' available count of each disc it holds.
func (s *RedisStock) Available(ctx context.Context, discIDs []int64) (map[int64]int64, error) {
	return s.counts.Available(ctx, discIDs)
}

// HasSales tells whether Redis sold units of the disc.
func (s *RedisStock) HasSales(ctx context.Context, discID int64) (bool, error) {
	return s.counts.HasSales(ctx, discID)
}

// Forget drops the disc's keys from Redis.
func (s *RedisStock) Forget(ctx context.Context, discID int64) error {
	return s.counts.Forget(ctx, discID)
}

// PostgresStock is the LiveStock of a shop that reserves in Postgres only: Postgres' stock is the count that
// sells, so a committed change is already live, needs no guard, and there is nothing to catch up or forget.
type PostgresStock struct{}

// Sync does nothing: the change is live once it committed.
func (PostgresStock) Sync(context.Context, int64) error { return nil }

// Guard is none (nil): the change's own transaction checks Postgres' stock.
func (PostgresStock) Guard() model.StockGuard { return nil }

// CatchUp does nothing: Postgres is never behind itself.
func (PostgresStock) CatchUp(context.Context, int64) error { return nil }

// Available holds no disc, so each keeps its Postgres stock.
func (PostgresStock) Available(context.Context, []int64) (map[int64]int64, error) { return nil, nil }

// HasSales is false: every sale is an order in Postgres, which removing a disc checks itself.
func (PostgresStock) HasSales(context.Context, int64) (bool, error) { return false, nil }

// Forget does nothing: there is no second store.
func (PostgresStock) Forget(context.Context, int64) error { return nil }
