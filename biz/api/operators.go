package api

import (
	"context"
	"sync"
	"time"

	"github.com/learecordshop/recordshop/biz/console"
	"github.com/learecordshop/recordshop/biz/handler"
	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/pg"
)

// operators is what the shop runs for the people watching it: the launch console (its view, and the sampler
// of the order-path meter) and the periodic reconcile check, whose outcomes the console shows and the
// recordshop_reconcile_* metrics export.
type operators struct {
	console *console.Console
	runs    *service.ReconcileRuns
	check   func(ctx context.Context, discID int64) (service.Report, error)
	every   time.Duration // the periodic check's interval; 0: off
	timeout time.Duration
}

// newOperators wires the console and the reconcile outcomes over d. It returns the reconciler the
// /v1/admin/reconcile endpoints use: manual, whole-shop checks are recorded like periodic ones (in Postgres
// mode those endpoints answer not-applicable, and only the periodic ledger check is recorded).
func newOperators(d Deps, manual handler.Reconciles) (*operators, handler.Reconciles, error) {
	runs, err := service.NewReconcileRuns(d.Registry, d.Log, d.Now)
	if err != nil {
		return nil, nil, err
	}
	var live console.Live = console.LedgerLive{}
	if d.Mode == ModeRedis {
		live = console.RedisLive{Gate: newGate(d)}
		manual = runs.Recording(manual)
	}
	o := &operators{
		console: console.New(console.Deps{Discs: pg.NewDiscs(d.PG), Live: live, Meter: console.NewMeter(d.Now),
			Reconcile: runs, ReconcileEvery: d.ReconcileEvery, Metrics: d.Registry, Now: d.Now, Log: d.Log}),
		runs:    runs,
		check:   NewReconciler(d, service.ReconcileConfig{}).Check, // the whole-shop check of `recordshop reconcile`
		every:   d.ReconcileEvery,
		timeout: d.ReconcileTimeout,
	}
	return o, manual, nil
}

// run samples the console's meter and, when on, checks the shop every interval, until ctx ends.
func (o *operators) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { o.console.Run(ctx) })
	if o.every > 0 {
		wg.Go(func() { o.runs.Run(ctx, o.check, o.every, o.timeout) })
	}
	wg.Wait()
}
