// Package console is the operators' launch console: the live view of each disc on sale or about to be (units
// left and sold, the order path's answers and latency, when it sold out), of the writer's way to Postgres per
// partition (backlog, oldest waiting order, dead letters, commit lag), and of the latest reconcile verdict. It
// owns the order-path meter that counts the answers per disc, the one JSON view GET /v1/admin/console answers,
// and the page GET /console serves (HTML, CSS and JS embedded in the binary; nothing loaded from elsewhere).
//
// It reads the stores through the small interfaces it declares and never changes them. It must not hold a
// rule of the shop: what sells, and whether the stores agree, are the services' answers, shown as they are.
package console

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// LaunchDiscs lists the discs the console shows (*pg.Discs).
type LaunchDiscs interface {
	Launches(ctx context.Context, from, to time.Time, also []int64, limit int) ([]pg.LaunchDisc, error)
}

// Live reads what sells right now from the store that decides it: Redis (RedisLive), or the ledger itself in
// a shop that reserves in Postgres (LedgerLive).
type Live interface {
	Look(ctx context.Context, discs []pg.LaunchDisc) (Pipeline, error)
}

// Pipeline is one look at what sells: the live units of the discs the store holds, and each partition's way
// to Postgres (none when orders go to Postgres directly).
type Pipeline struct {
	Available  map[int64]int64
	Partitions []rsredis.PartitionState
}

// RedisLive reads the live units and the partitions from the Redis stock gate, in one round trip.
type RedisLive struct {
	Gate interface {
		Watch(ctx context.Context, discIDs []int64) (rsredis.Watch, error)
	}
}

// Look implements Live.
func (l RedisLive) Look(ctx context.Context, discs []pg.LaunchDisc) (Pipeline, error) {
	ids := make([]int64, len(discs))
	for i, d := range discs {
		ids[i] = d.ID
	}
	w, err := l.Gate.Watch(ctx, ids)
	return Pipeline{Available: w.Available, Partitions: w.Partitions}, err
}

// LedgerLive is Live in a shop that reserves in Postgres: there the ledger's stock is what sells, and no
// order waits anywhere for Postgres.
type LedgerLive struct{}

// Look implements Live.
func (LedgerLive) Look(_ context.Context, discs []pg.LaunchDisc) (Pipeline, error) {
	p := Pipeline{Available: make(map[int64]int64, len(discs))}
	for _, d := range discs {
		p.Available[d.ID] = d.Stock
	}
	return p, nil
}

// ReconcileOutcomes is where the latest whole-shop reconcile check is kept (*service.ReconcileRuns).
type ReconcileOutcomes interface {
	Last() service.LastReconcile
}

// Deps are what the console reads.
type Deps struct {
	Discs     LaunchDiscs
	Live      Live
	Meter     *Meter
	Reconcile ReconcileOutcomes
	// ReconcileEvery is the periodic check's interval (0: off), shown beside its verdict.
	ReconcileEvery time.Duration
	// Metrics is the registry the writer's lag histogram is on (recordshop_writer_lag_seconds).
	Metrics prometheus.Gatherer
	Now     func() time.Time // the shop's clock
	Log     *zap.Logger
}

// Settings of what the console shows.
const (
	// Window is how far from now a sale start may be, either side, for its disc to be shown: a launch of
	// today, or one about to begin. Discs being ordered are shown whatever their sale start.
	Window = 24 * time.Hour
	// MaxDiscs bounds the discs shown: the ones being ordered first, then the latest sale start first.
	MaxDiscs = 50
	// fresh is how long a view is served again to every viewer before it is read anew: with several
	// operators polling every second, the stores are read about once a second whatever their number.
	fresh = 500 * time.Millisecond
	// readTimeout bounds one read of the stores: a view later than this is of no use to a page polling
	// every second.
	readTimeout = 3 * time.Second
)

// Console builds the launch view.
type Console struct {
	d   Deps
	lag *lagRing

	mu       sync.Mutex // one read of the stores at a time; the others wait for it and share it
	view     View
	readAt   time.Time // monotonic
	soldOut  map[int64]time.Time
	liveDown bool // the last read of the live counts failed (logged once per outage, not per poll)
}

// New returns the console over d.
func New(d Deps) *Console {
	return &Console{d: d, lag: newLagRing(d.Metrics), soldOut: map[int64]time.Time{}}
}

// Meter is the order-path meter the console reads.
func (c *Console) Meter() *Meter { return c.d.Meter }

// Run samples the meter and the writer's lag every second until ctx ends.
func (c *Console) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-tick.C:
			c.d.Meter.Sample(at)
			c.lag.sample(at)
		}
	}
}

// View returns the launch view, read at most fresh ago. An error means Postgres could not say which discs to
// show; a Redis that does not answer leaves the live counts unknown (null) and says so in the view.
func (c *Console) View(ctx context.Context) (View, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && time.Since(c.readAt) < fresh {
		return c.view, nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	v, err := c.read(ctx)
	if err != nil {
		return View{}, err
	}
	c.view, c.readAt = v, time.Now()
	return v, nil
}

// read reads the stores and builds the view.
func (c *Console) read(ctx context.Context) (View, error) {
	now := c.d.Now().UTC()
	discs, err := c.d.Discs.Launches(ctx, now.Add(-Window), now.Add(Window), c.d.Meter.Active(), MaxDiscs)
	if err != nil {
		return View{}, fmt.Errorf("console: discs: %w", err)
	}
	v := View{Now: now, Live: "ok", Discs: make([]DiscView, 0, len(discs)), Partitions: []PartitionView{}}
	pipe, err := c.d.Live.Look(ctx, discs)
	c.noteLive(err)
	if err != nil {
		v.Live, v.LiveError = "unavailable", "Redis did not answer: units left and sold are unknown until it does."
	}
	last := c.d.Reconcile.Last()
	seen := make(map[int64]bool, len(discs))
	for _, d := range discs {
		seen[d.ID] = true
		v.Discs = append(v.Discs, c.discView(now, d, pipe, last))
	}
	for id := range c.soldOut {
		if !seen[id] {
			delete(c.soldOut, id)
		}
	}
	for _, p := range pipe.Partitions {
		v.Partitions = append(v.Partitions, PartitionView{Partition: p.Partition, Backlog: p.Backlog,
			OldestWaitSeconds: p.OldestWait.Seconds(), DeadLetters: p.DeadLetters})
		v.Writer.Backlog += p.Backlog
		v.Writer.DeadLetters += p.DeadLetters
		v.Writer.OldestWaitSeconds = max(v.Writer.OldestWaitSeconds, p.OldestWait.Seconds())
	}
	v.Writer.Landed, v.Writer.LagP50Seconds, v.Writer.LagP99Seconds = c.lag.lastMinute()
	v.Reconcile = reconcileView(last, c.d.ReconcileEvery)
	return v, nil
}

// noteLive logs when the live counts stop being readable and when they are again: a console polls every
// second, and an outage is one line, not one a poll. The cause stays in the log, not in the view.
func (c *Console) noteLive(err error) {
	switch {
	case err != nil && !c.liveDown:
		c.d.Log.Warn("console: the live counts could not be read", zap.Error(err))
	case err == nil && c.liveDown:
		c.d.Log.Info("console: the live counts are readable again")
	}
	c.liveDown = err != nil
}

// discView is one disc's row of the view.
func (c *Console) discView(now time.Time, d pg.LaunchDisc, pipe Pipeline, last service.LastReconcile) DiscView {
	out := DiscView{ID: d.ID, Name: d.Name, Artist: d.Artist, SaleStartsAt: d.SaleStartsAt.UTC(),
		OnSale: !d.SaleStartsAt.After(now), Supplied: d.Supplied, Reconcile: discVerdict(d, last)}
	rates, metered := c.d.Meter.Rates(d.ID)
	if avail, ok := pipe.Available[d.ID]; ok {
		sold := d.Supplied - avail
		out.Available, out.Sold = &avail, &sold
		out.SoldOutAt = c.soldOutAt(now, d, avail, rates.SoldOutAt)
	}
	if metered {
		out.Orders = ordersView(rates)
	} else {
		out.Orders = OrdersView{Series: [][4]uint64{}}
	}
	return out
}

// soldOutAt is when the disc sold out, while it is: the first time Redis answered this process "sold out"
// with no unit left, or else (nobody asked after the last unit) the first time the console saw none left.
// A disc with units again has not sold out, and its marks go.
func (c *Console) soldOutAt(now time.Time, d pg.LaunchDisc, avail int64, answered time.Time) *time.Time {
	if avail > 0 || d.Supplied <= 0 {
		delete(c.soldOut, d.ID)
		c.d.Meter.ClearSoldOut(d.ID, now) // now was read before the live count
		return nil
	}
	at, ok := c.soldOut[d.ID]
	if !ok || (!answered.IsZero() && answered.Before(at)) {
		at = now
		if !answered.IsZero() {
			at = answered
		}
		c.soldOut[d.ID] = at
	}
	at = at.UTC()
	return &at
}

// discVerdict is the disc's verdict in the latest completed reconcile check: not-checked when it came after
// that check began (or no check has completed).
func discVerdict(d pg.LaunchDisc, last service.LastReconcile) string {
	if last.VerdictsOf.IsZero() || d.CreatedAt.After(last.VerdictsOf) {
		return "not-checked"
	}
	if v, ok := last.Discs[d.ID]; ok {
		return v
	}
	return service.VerdictOK
}

func ordersView(r Rates) OrdersView {
	o := OrdersView{WindowSeconds: r.Seconds, Orders: r.Orders, Created: r.Created, Conflict: r.Conflict,
		Unavailable: r.Unavailable, Series: r.PerSecond}
	if r.Seconds > 0 {
		o.PerSecond = float64(r.Orders) / r.Seconds
		o.CreatedPerSecond = float64(r.Created) / r.Seconds
		o.ConflictPerSecond = float64(r.Conflict) / r.Seconds
		o.UnavailablePerSecond = float64(r.Unavailable) / r.Seconds
	}
	if r.Orders > 0 {
		p50, p99 := millis(r.P50), millis(r.P99)
		o.P50Ms, o.P99Ms = &p50, &p99
	}
	if n := len(r.PerSecond); n > 0 {
		o.LastSecond = r.PerSecond[n-1][0]
	}
	return o
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func reconcileView(last service.LastReconcile, every time.Duration) ReconcileView {
	r := ReconcileView{EverySeconds: every.Seconds(), Ran: last.Ran}
	if !last.Ran {
		return r
	}
	started, finished := last.StartedAt.UTC(), last.FinishedAt.UTC()
	r.Result, r.Trigger, r.Summary = last.Result, last.Trigger, last.Summary
	r.StartedAt, r.FinishedAt, r.TookSeconds = &started, &finished, last.Took.Seconds()
	r.Checked, r.Drifting = last.Checked, len(last.Discs)
	r.Problems = []DiscVerdict{}
	for _, id := range slices.Sorted(maps.Keys(last.Discs)) {
		r.Problems = append(r.Problems, DiscVerdict{DiscID: id, Verdict: last.Discs[id]})
	}
	if !last.LastClean.IsZero() {
		clean := last.LastClean.UTC()
		r.LastCleanAt = &clean
	}
	return r
}
