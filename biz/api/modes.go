package api

import (
	"context"
	"fmt"

	"github.com/learecordshop/recordshop/biz/handler"
	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"go.uber.org/zap"
)

// The reservation mode is chosen here and nowhere else: each mode is a set of implementations of the
// interfaces the services hold (service.Reserver, service.LiveStock, service.InactiveSetter,
// handler.Reconciles). The services never ask which mode they run in.

// modeServices are the services whose implementations depend on the reservation mode, and the store work the
// mode needs before the shop serves.
type modeServices struct {
	catalog    *service.Catalog
	customers  *service.Customers
	orders     *service.Orders
	reconciler handler.Reconciles
	relay      *service.Relay  // Redis mode only: the outbox sweep RunBackground runs
	writer     *service.Writer // Redis mode only
	// prepare is the mode's store work, done once before the shop serves.
	prepare func(ctx context.Context) error
}

// wireMode builds the services of d.Mode over the Postgres repositories; it does no I/O.
func wireMode(d Deps, discs *pg.Discs, customers *pg.Customers, orders *pg.Orders) (modeServices, error) {
	switch d.Mode {
	case ModeRedis:
		return wireRedis(d, discs, customers, orders)
	case ModePostgres:
		return wirePostgres(d, discs, customers, orders), nil
	}
	return modeServices{}, fmt.Errorf("api: unknown reservation mode %q", d.Mode)
}

// wireRedis reserves in Redis: reserve.lua is the order path, the relay carries Postgres' stock changes to
// Redis, and the writer carries Redis' orders to Postgres. Its store work checks that both stores were made
// for this partition count, loads into Redis every disc on sale that it lacks (never over live stock),
// applies what is left in the outbox, writes the inactive customers and warms the customer cache, so the
// order path is ready when it returns.
func wireRedis(d Deps, discs *pg.Discs, customers *pg.Customers, orders *pg.Orders) (modeServices, error) {
	gate := newGate(d)
	relay := newRelay(d, gate)
	stock := service.NewRedisStock(relay, gate)
	reserver := service.NewRedisReserver(gate, customers, discs, d.Orders)
	relay.OnUnitsBack(reserver.UnitsBack)
	wm, err := service.NewWriterMetrics(d.Registry)
	if err != nil {
		return modeServices{}, err
	}
	m := modeServices{
		catalog:    service.NewCatalog(discs, stock, d.Log),
		customers:  service.NewCustomers(customers, gate),
		orders:     service.NewOrders(orders, reserver, stock, d.Orders, d.Now),
		reconciler: newReconciler(d, gate, service.ReconcileConfig{}),
		relay:      relay,
		writer:     service.NewWriter(rsredis.NewStreams(d.Redis, gate.Keys()), orders, d.Writer, wm, d.Log),
	}
	m.prepare = func(ctx context.Context) error {
		if err := claimPartitions(ctx, d, gate); err != nil {
			return err
		}
		warnShortOfReplicas(ctx, d, gate)
		// A Redis that lost its data would restart its stream ids below the orders Postgres has, and reconcile
		// would take every past order for one reserved after its snapshot (and --fix would hand their units
		// back). Each stream starts past Postgres' last position, as --rebuild does.
		last, err := orders.LastStreamIDs(ctx)
		if err != nil {
			return err
		}
		for p := 0; p < d.Partitions; p++ {
			if err := gate.EnsureStream(ctx, p, last[p]); err != nil {
				return fmt.Errorf("api: order streams: %w", err)
			}
		}
		ids, err := discs.SaleIDs(ctx)
		if err != nil {
			return err
		}
		if err := relay.LoadAll(ctx, ids); err != nil {
			return fmt.Errorf("api: load discs into redis: %w", err)
		}
		if _, err := relay.SyncAll(ctx); err != nil {
			return fmt.Errorf("api: apply stock events: %w", err)
		}
		if err := service.SyncInactive(ctx, customers, gate); err != nil {
			return fmt.Errorf("api: inactive customers into redis: %w", err)
		}
		if err := reserver.WarmCustomers(ctx, customers.EachID); err != nil {
			return fmt.Errorf("api: warm the customer cache: %w", err)
		}
		return nil
	}
	return m, nil
}

// wirePostgres reserves in Postgres alone (RS_RESERVE_MODE=postgres): an order is one transaction, Postgres'
// stock is the count that sells, and there is no second store to keep in step or to reconcile over HTTP.
func wirePostgres(d Deps, discs *pg.Discs, customers *pg.Customers, orders *pg.Orders) modeServices {
	stock := service.PostgresStock{}
	return modeServices{
		catalog:    service.NewCatalog(discs, stock, d.Log),
		customers:  service.NewCustomers(customers, service.PostgresInactive{}),
		orders:     service.NewOrders(orders, service.NewPostgresReserver(orders, d.Orders.IdempotencyTTL), stock, d.Orders, d.Now),
		reconciler: handler.NotReconcilable{},
		prepare:    func(context.Context) error { return nil },
	}
}

// claimPartitions records the partition count in both stores on first start and refuses a different one.
func claimPartitions(ctx context.Context, d Deps, gate *rsredis.Gate) error {
	recorded, err := pg.ClaimPartitions(ctx, d.PG, d.Partitions)
	if err != nil {
		return err
	}
	if recorded != d.Partitions {
		return fmt.Errorf("postgres was set up with %d partitions, configured %d: %w", recorded, d.Partitions, model.ErrPartitionsDisagree)
	}
	return gate.ClaimPartitions(ctx)
}

func newReconciler(d Deps, gate *rsredis.Gate, cfg service.ReconcileConfig) *service.Reconciler {
	discs, customers := pg.NewDiscs(d.PG), pg.NewCustomers(d.PG)
	syncInactive := func(ctx context.Context) error { return service.SyncInactive(ctx, customers, gate) }
	redis := service.RedisSide{Snapshots: gate, Repairs: gate, Loader: newRelay(d, gate), SyncInactive: syncInactive}
	return service.NewReconciler(discs, pg.NewOrders(d.PG), redis, cfg, d.Log, d.Now)
}

// newRelay is the stock relay between d's Postgres and gate.
func newRelay(d Deps, gate *rsredis.Gate) *service.Relay {
	r := service.NewRelay(pg.NewStockEvents(d.PG), pg.NewDiscs(d.PG), gate, d.Log)
	if d.LoadBuyersMax != 0 {
		r.SetLoadBuyersMax(max(d.LoadBuyersMax, 0))
	}
	return r
}

// newGate is the Redis stock gate of d: its key layout and its replication wait.
func newGate(d Deps) *rsredis.Gate {
	return rsredis.NewGate(d.Redis, rsredis.Keys{Namespace: d.Namespace, Partitions: d.Partitions}).WithReplication(d.RedisWait)
}

// warnShortOfReplicas says at start when a primary has fewer replicas than every reservation waits for: its
// orders answer 503 until they are back. It does not refuse to start, since the other primaries' orders go on
// and a replica that is restarting comes back on its own.
func warnShortOfReplicas(ctx context.Context, d Deps, gate *rsredis.Gate) {
	short, err := gate.ShortOfReplicas(ctx)
	switch {
	case err != nil:
		d.Log.Warn("could not count the redis replicas", zap.Error(err))
	case len(short) > 0:
		d.Log.Warn("redis primaries with fewer replicas than RS_REDIS_WAIT_REPLICAS: their orders answer 503 until the replicas are back",
			zap.Strings("primaries", short), zap.Int("wait_replicas", d.RedisWait.Replicas))
	}
}
