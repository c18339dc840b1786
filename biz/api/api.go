package api

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/edge"
	"github.com/learecordshop/recordshop/biz/handler"
	mw "github.com/learecordshop/recordshop/biz/middleware"
	"github.com/learecordshop/recordshop/biz/router"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// DefaultNamespace prefixes every Redis key of a shop.
const DefaultNamespace = "rs:"

// Reservation modes.
const (
	ModeRedis    = "redis"
	ModePostgres = "postgres"
)

// Deps are the built dependencies and settings of the API.
type Deps struct {
	PG       *pgxpool.Pool
	Redis    goredis.UniversalClient // one server, a cluster or a Sentinel-managed primary (rsredis.NewClient)
	Tokens   mw.Tokens
	Log      *zap.Logger
	Registry *prometheus.Registry
	Now      func() time.Time

	Mode       string // ModeRedis (default) or ModePostgres
	Partitions int    // Redis partitions (16 when 0)
	Namespace  string // prefix of every Redis key (DefaultNamespace when empty)
	Orders     service.OrderConfig
	RedisWait  rsredis.Replication // replicas every reservation waits for (none when zero)
	Writer     service.WriterConfig
	// CursorKey signs list cursors; every replica needs the same one (a random key when empty, which suits a
	// single process and tests).
	CursorKey []byte
	// HTTP bounds what one client can make the server hold (edge.Defaults where zero).
	HTTP edge.Limits
	// RelayInterval is how often the relay sweeps the stock_events outbox for what a crash left (1 s).
	RelayInterval time.Duration
	// ReadyInterval is how often the shop pings Postgres and Redis for recordshop_dependency_ready (5 s).
	ReadyInterval time.Duration
	// LoadBuyersMax is how many past buyers of a disc a load puts into Redis (service.LoadBuyersMax when 0,
	// none when negative); beyond it Redis asks Postgres for a buyer's units at their first order.
	LoadBuyersMax int
	// ReconcileEvery is how often the shop runs the whole-shop reconcile check itself (0: never, the
	// default; operators then run `recordshop reconcile` from cron). ReconcileTimeout bounds each check (1 min).
	ReconcileEvery   time.Duration
	ReconcileTimeout time.Duration
}

// API is the assembled shop.
type API struct {
	Server *server.Hertz
	Orders *service.Orders
	relay  *service.Relay
	writer *service.Writer
	ready  *handler.Readiness
	ops    *operators // the launch console and the periodic reconcile
	log    *zap.Logger

	prepare    func(context.Context) error
	relayEvery time.Duration
}

// New is Build then Prepare: the shop, ready to Run.
func New(ctx context.Context, d Deps, opts ...config.Option) (*API, error) {
	a, err := Build(d, opts...)
	if err != nil {
		return nil, err
	}
	if err := a.Prepare(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Prepare does the store work the order path needs before the shop serves. In Redis mode it checks that both
// stores were made for this partition count, loads into Redis every disc on sale that it lacks (never over
// live stock), applies what is left in the outbox, writes the inactive customers and warms the customer cache.
func (a *API) Prepare(ctx context.Context) error { return a.prepare(ctx) }

// Build assembles the shop from d: repositories, the services of the reservation mode, handlers and routes on
// a Hertz server. It does no I/O; Prepare does the store work and Run serves. Every subcommand and every test
// harness goes through these three.
func Build(d Deps, opts ...config.Option) (*API, error) {
	d = withDefaults(d)
	discs, customers, orders := pg.NewDiscs(d.PG), pg.NewCustomers(d.PG), pg.NewOrders(d.PG)
	a := &API{log: d.Log, relayEvery: d.RelayInterval}
	m, err := wireMode(d, discs, customers, orders)
	if err != nil {
		return nil, err
	}
	a.prepare = m.prepare
	a.Orders, a.relay, a.writer = m.orders, m.relay, m.writer
	catalog, people, reconciler := m.catalog, m.customers, m.reconciler
	if a.ops, reconciler, err = newOperators(d, reconciler); err != nil {
		return nil, err
	}
	if a.ready, err = handler.NewReadiness(readiness(d), d.ReadyInterval, d.Registry, d.Log); err != nil {
		return nil, err
	}
	h, err := handler.New(handler.Deps{
		Catalog:    catalog,
		Customers:  people,
		Orders:     a.Orders,
		Reconciler: reconciler,
		Ready:      a.ready.Checks(),
		Log:        d.Log,
		Now:        d.Now,
		CursorKey:  d.CursorKey,
		Console:    a.ops.console,
	})
	if err != nil {
		return nil, err
	}
	base := append(edge.Options(d.HTTP), server.WithDisablePrintRoute(true))
	a.Server = server.New(append(base, opts...)...)
	if err := router.Register(a.Server.Engine, router.Deps{Handler: h, Tokens: d.Tokens, Log: d.Log, Registry: d.Registry}); err != nil {
		return nil, err
	}
	return a, nil
}

// readiness is what /readyz asks: Postgres, and Redis when the order path uses it.
func readiness(d Deps) []handler.Check {
	checks := []handler.Check{{Name: "postgres", Ping: d.PG.Ping}}
	if d.Mode == ModeRedis {
		checks = append(checks, handler.Check{Name: "redis", Ping: func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() }})
	}
	return checks
}

// Defaults are the settings a shop gets where Deps leaves them zero. The command line's defaults are these
// too (cmd/recordshop reads them), so each lives in this one place.
var Defaults = Deps{
	Mode:          ModeRedis,
	Partitions:    16,
	Namespace:     DefaultNamespace,
	RelayInterval: time.Second,
	ReadyInterval: 5 * time.Second,
	// A check that takes longer is stuck on a store; the next one starts an interval later.
	ReconcileTimeout: time.Minute,
	Orders: service.OrderConfig{
		IdempotencyTTL: 24 * time.Hour,
		CancelWait:     2 * time.Second,
		// reserve.lua runs in microseconds: a second without an answer means a stalled Redis, and a 503 to
		// retry serves the buyer better than a hung request.
		RedisTimeout: time.Second,
		// A restock made through another replica can go unseen this long by this one; in exchange the
		// sold-out storm after a launch costs no Redis round trip at all (negative in Deps: off).
		SoldOutHold: 100 * time.Millisecond,
	},
	Writer: service.WriterConfig{BatchSize: 500, BatchWait: 5 * time.Millisecond, ClaimIdle: 30 * time.Second, MaxDeliveries: 5},
}

func withDefaults(d Deps) Deps {
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	if d.Mode == "" {
		d.Mode = Defaults.Mode
	}
	if d.Partitions == 0 {
		d.Partitions = Defaults.Partitions
	}
	if d.Namespace == "" {
		d.Namespace = Defaults.Namespace
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if len(d.CursorKey) == 0 {
		d.CursorKey = make([]byte, 32)
		_, _ = rand.Read(d.CursorKey) // crypto/rand never fails on a supported platform
	}
	d.RelayInterval = or(d.RelayInterval, Defaults.RelayInterval)
	d.ReadyInterval = or(d.ReadyInterval, Defaults.ReadyInterval)
	d.ReconcileTimeout = or(d.ReconcileTimeout, Defaults.ReconcileTimeout)
	d.Orders.IdempotencyTTL = or(d.Orders.IdempotencyTTL, Defaults.Orders.IdempotencyTTL)
	d.Orders.CancelWait = or(d.Orders.CancelWait, Defaults.Orders.CancelWait)
	d.Orders.RedisTimeout = or(d.Orders.RedisTimeout, Defaults.Orders.RedisTimeout)
	d.Orders.SoldOutHold = or(d.Orders.SoldOutHold, Defaults.Orders.SoldOutHold) // negative: off
	if d.Writer.Consumer == "" {
		host, _ := os.Hostname()
		d.Writer.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if d.Writer.BatchSize == 0 {
		d.Writer.BatchSize = Defaults.Writer.BatchSize
	}
	d.Writer.BatchWait = or(d.Writer.BatchWait, Defaults.Writer.BatchWait)
	d.Writer.ClaimIdle = or(d.Writer.ClaimIdle, Defaults.Writer.ClaimIdle)
	if d.Writer.MaxDeliveries == 0 {
		d.Writer.MaxDeliveries = Defaults.Writer.MaxDeliveries
	}
	return d
}

// RunBackground runs the stock relay and, when withWriter, the writer until ctx ends. Redis mode only; in
// Postgres mode it returns at once.
func (a *API) RunBackground(ctx context.Context, withWriter bool) error {
	if a.relay == nil {
		return nil
	}
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() { defer wg.Done(); a.relay.Run(ctx, a.relayEvery) }()
	if withWriter {
		wg.Add(1)
		go func() { defer wg.Done(); werr = a.writer.Run(ctx) }()
	}
	wg.Wait()
	if werr != nil && !errors.Is(werr, context.Canceled) {
		return werr
	}
	return nil
}

// NewWriter builds a writer alone (`recordshop writer`), after the same partition check as the API.
func NewWriter(ctx context.Context, d Deps) (*service.Writer, error) {
	d = withDefaults(d)
	gate := newGate(d)
	if err := claimPartitions(ctx, d, gate); err != nil {
		return nil, err
	}
	wm, err := service.NewWriterMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	return service.NewWriter(rsredis.NewStreams(d.Redis, gate.Keys()), pg.NewOrders(d.PG), d.Writer, wm, d.Log), nil
}

// NewReconciler builds the reconciler over the stores (`recordshop reconcile`). It does not claim the
// partition count: a Redis that lost its data must be reported, not silently re-marked. In Postgres mode it
// checks the ledger alone.
func NewReconciler(d Deps, cfg service.ReconcileConfig) *service.Reconciler {
	d = withDefaults(d)
	if d.Mode == ModePostgres {
		return service.NewLedgerReconciler(pg.NewDiscs(d.PG), cfg, d.Now)
	}
	return newReconciler(d, newGate(d), cfg)
}
