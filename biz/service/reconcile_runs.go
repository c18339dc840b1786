package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Results of a whole-shop reconcile check, as recordshop_reconcile_runs_total counts them.
const (
	RunClean = "clean" // Redis and Postgres agree
	RunDrift = "drift" // the check found something to look at (any verdict but ok, or a Redis without data)
	RunError = "error" // the check could not complete (a store unreachable, its timeout)
)

// LastReconcile is the outcome of the latest whole-shop check, kept in memory for the launch console.
type LastReconcile struct {
	Ran        bool          // a check has finished since the process started
	Result     string        // RunClean, RunDrift or RunError
	Trigger    string        // "periodic", or "manual" for GET/POST /v1/admin/reconcile
	StartedAt  time.Time     // by the shop's clock
	FinishedAt time.Time     // by the shop's clock
	Took       time.Duration // by the monotonic clock
	Summary    string        // the report's summary line, or the error
	// Checked, Discs and VerdictsOf come from the latest check that completed (this one unless it is an
	// error): the discs it checked, the verdict of each that was not ok (a disc it saw and that is not here was
	// ok), and when it started.
	Checked    int
	Discs      map[int64]string
	VerdictsOf time.Time
	// LastClean is when the latest clean check finished (zero: none since the process started).
	LastClean time.Time
}

// ReconcileRuns keeps the outcome of the latest whole-shop reconcile check, whoever ran it (the periodic loop,
// or an operator through the API), exports it as metrics, and runs the periodic check. A check of one disc
// says nothing of the others and is not kept.
type ReconcileRuns struct {
	log *zap.Logger
	now func() time.Time

	mu   sync.Mutex
	last LastReconcile

	drifting  prometheus.Gauge
	lastRun   prometheus.Gauge
	lastClean prometheus.Gauge
	runs      *prometheus.CounterVec
}

// NewReconcileRuns registers the reconcile metrics on reg. Alert rules and dashboards name them, so their
// names are part of the deployment's contract:
//
//   - recordshop_reconcile_drifting_discs: discs whose latest completed check was not ok;
//   - recordshop_reconcile_last_run_timestamp_seconds: when the latest completed check finished;
//   - recordshop_reconcile_last_clean_timestamp_seconds: when the latest clean check finished;
//   - recordshop_reconcile_runs_total{result="clean|drift|error"}: checks by outcome.
//
// A check that could not complete counts as an error and leaves the gauges as they were: "last run" going
// stale is how a reconcile that keeps failing shows on a dashboard.
func NewReconcileRuns(reg prometheus.Registerer, log *zap.Logger, now func() time.Time) (*ReconcileRuns, error) {
	r := &ReconcileRuns{log: log, now: now,
		drifting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recordshop_reconcile_drifting_discs",
			Help: "Discs whose latest completed reconcile check was not ok."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recordshop_reconcile_last_run_timestamp_seconds",
			Help: "Unix time the latest completed whole-shop reconcile check finished."}),
		lastClean: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recordshop_reconcile_last_clean_timestamp_seconds",
			Help: "Unix time the latest clean whole-shop reconcile check finished (0: none since start)."}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recordshop_reconcile_runs_total",
			Help: "Whole-shop reconcile checks by result: clean, drift, or error (could not check)."}, []string{"result"}),
	}
	for _, res := range []string{RunClean, RunDrift, RunError} {
		r.runs.WithLabelValues(res) // every series exists from the start, so rate() and absent() read it
	}
	for _, c := range []prometheus.Collector{r.drifting, r.lastRun, r.lastClean, r.runs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Last returns the outcome of the latest whole-shop check.
func (r *ReconcileRuns) Last() LastReconcile {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Record keeps the outcome of a whole-shop check that started at started, updates the metrics and logs one
// line. A check that started before the one kept (a slow one that overlapped a newer) is counted but not
// kept: the newer one saw more recent stores.
func (r *ReconcileRuns) Record(trigger string, started time.Time, took time.Duration, rep Report, err error) {
	out := LastReconcile{Ran: true, Trigger: trigger, StartedAt: started, FinishedAt: r.now(), Took: took}
	switch {
	case err != nil:
		out.Result, out.Summary = RunError, err.Error()
	case rep.Clean:
		out.Result, out.Summary = RunClean, rep.Summary
	default:
		out.Result, out.Summary = RunDrift, rep.Summary
	}
	if err == nil {
		out.Checked, out.VerdictsOf = rep.Discs, started
		out.Discs = make(map[int64]string, len(rep.Problems))
		for _, d := range rep.Problems {
			out.Discs[d.DiscID] = d.Verdict
		}
	}
	r.runs.WithLabelValues(out.Result).Inc()
	r.log.Log(levelOf(out.Result), "reconcile check", zap.String("trigger", trigger), zap.String("result", out.Result),
		zap.Int("drifting_discs", len(out.Discs)), zap.Duration("took", took), zap.String("summary", out.Summary))

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.Ran && started.Before(r.last.StartedAt) {
		return
	}
	out.LastClean = r.last.LastClean
	if out.Result == RunError {
		// Nothing was learnt of the discs: keep the verdicts (and the gauges) of the latest completed check.
		out.Discs, out.Checked, out.VerdictsOf = r.last.Discs, r.last.Checked, r.last.VerdictsOf
		r.last = out
		return
	}
	if out.Result == RunClean {
		out.LastClean = out.FinishedAt
		r.lastClean.Set(unixSeconds(out.FinishedAt))
	}
	r.drifting.Set(float64(len(out.Discs)))
	r.lastRun.Set(unixSeconds(out.FinishedAt))
	r.last = out
}

func levelOf(result string) zapcore.Level {
	switch result {
	case RunClean:
		return zap.InfoLevel
	case RunDrift:
		return zap.WarnLevel
	}
	return zap.ErrorLevel
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Run checks the whole shop with check every `every` until ctx ends: the first check at once, each next one
// `every` after the previous finished, so two never overlap and a slow check cannot make them pile up. Each
// check is bounded by timeout. It only checks: repairs stay an operator's decision.
func (r *ReconcileRuns) Run(ctx context.Context, check func(ctx context.Context, discID int64) (Report, error), every, timeout time.Duration) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		started, clock := r.now(), time.Now()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		rep, err := check(cctx, 0)
		cancel()
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // stopped mid-check: not a failure of the check
		}
		r.Record("periodic", started, time.Since(clock), rep, err)
		timer.Reset(every)
	}
}

// Reconciles is what an operator's reconcile calls (GET and POST /v1/admin/reconcile): a check, and a repair
// followed by a fresh check.
type Reconciles interface {
	Check(ctx context.Context, discID int64) (Report, error)
	Fix(ctx context.Context, rep Report) (Report, error)
}

// Recording returns inner, keeping through r the outcome of every whole-shop check it answers: an operator's
// check is as good as a periodic one, and the report of a repair is a fresh check of the whole shop.
func (r *ReconcileRuns) Recording(inner Reconciles) Reconciles {
	return recording{inner: inner, runs: r}
}

type recording struct {
	inner Reconciles
	runs  *ReconcileRuns
}

func (c recording) Check(ctx context.Context, discID int64) (Report, error) {
	started, clock := c.runs.now(), time.Now()
	rep, err := c.inner.Check(ctx, discID)
	if discID == 0 {
		c.runs.Record("manual", started, time.Since(clock), rep, err)
	}
	return rep, err
}

func (c recording) Fix(ctx context.Context, rep Report) (Report, error) {
	started, clock := c.runs.now(), time.Now()
	after, err := c.inner.Fix(ctx, rep)
	c.runs.Record("manual", started, time.Since(clock), after, err)
	return after, err
}
