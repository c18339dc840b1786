package handler

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/problem"
)

// checkTimeout bounds one readiness check: a dependency that takes longer than this to answer a ping is not
// ready to serve orders that must answer in milliseconds.
const checkTimeout = time.Second

// Healthz answers liveness: the process serves HTTP. It needs nothing of a Handler, so that a process that
// serves no API (recordshop writer) answers it too.
func Healthz(_ context.Context, c *app.RequestContext) {
	c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz answers readiness: Postgres and Redis both answer within a second.
func (h *Handler) Readyz(ctx context.Context, c *app.RequestContext) {
	status := map[string]string{}
	ok := true
	for _, check := range h.ready {
		if err := check.ask(ctx); err != nil {
			ok = false
			status[check.Name] = "unavailable"
			h.log.Warn("readiness check failed", zap.String("check", check.Name), zap.Error(err))
			continue
		}
		status[check.Name] = "ok"
	}
	if !ok {
		p := problem.New(http.StatusServiceUnavailable, "not-ready", "Not ready", "A dependency does not answer.")
		for name, s := range status {
			if s != "ok" {
				p.Detail += " " + name + " is unavailable."
			}
		}
		problem.Write(c, p)
		return
	}
	c.JSON(http.StatusOK, status)
}

// ask runs the check within checkTimeout.
func (c Check) ask(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	return c.Ping(cctx)
}

// Readiness exports what /readyz finds as recordshop_dependency_ready{dependency}: 1 while the dependency
// answers, 0 while it does not. /readyz is only asked by whatever routes traffic, when anything does, so an
// alert cannot wait for it: Run asks every dependency itself, every few seconds (one ping each), and every
// /readyz answer moves the gauge too.
type Readiness struct {
	checks []Check
	every  time.Duration
	gauge  *prometheus.GaugeVec
	log    *zap.Logger

	mu    sync.Mutex
	ready map[string]bool // the last outcome of each check, to log changes rather than every probe
}

// NewReadiness registers the gauge on reg with one series per check, at 0 until a check has answered: a
// process that has not yet reached a dependency is not known to be ready.
func NewReadiness(checks []Check, every time.Duration, reg prometheus.Registerer, log *zap.Logger) (*Readiness, error) {
	r := &Readiness{checks: checks, every: every, log: log, ready: map[string]bool{},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recordshop_dependency_ready",
			Help: "Whether a dependency answered its last readiness check (1) or not (0), by dependency.",
		}, []string{"dependency"})}
	if err := reg.Register(r.gauge); err != nil {
		return nil, err
	}
	for _, c := range checks {
		r.gauge.WithLabelValues(c.Name).Set(0)
	}
	return r, nil
}

// Checks are the checks with their outcome recorded in the gauge, for /readyz.
func (r *Readiness) Checks() []Check {
	out := make([]Check, len(r.checks))
	for i, c := range r.checks {
		out[i] = Check{Name: c.Name, Ping: func(ctx context.Context) error {
			err := c.Ping(ctx)
			if !errors.Is(ctx.Err(), context.Canceled) { // a caller that went away says nothing of the dependency
				r.record(c.Name, err)
			}
			return err
		}}
	}
	return out
}

// Run probes every dependency at once and then every interval, until ctx ends.
func (r *Readiness) Run(ctx context.Context) {
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		r.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe asks each dependency once and records the outcome.
func (r *Readiness) probe(ctx context.Context) {
	for _, c := range r.checks {
		err := c.ask(ctx)
		if ctx.Err() != nil {
			return // stopping: a ping cut short says nothing about the dependency
		}
		r.record(c.Name, err)
	}
}

// record sets the gauge of dependency name from err, and logs when its readiness changes.
func (r *Readiness) record(name string, err error) {
	ok := err == nil
	r.mu.Lock()
	defer r.mu.Unlock()
	v := 0.0
	if ok {
		v = 1
	}
	r.gauge.WithLabelValues(name).Set(v)
	was, seen := r.ready[name]
	r.ready[name] = ok
	switch {
	case !ok && (was || !seen):
		r.log.Warn("dependency not ready", zap.String("dependency", name), zap.Error(err))
	case ok && seen && !was:
		r.log.Info("dependency ready again", zap.String("dependency", name))
	}
}
