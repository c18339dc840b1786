package service_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/service"
	"github.com/learecordshop/recordshop/dal/testenv"
)

var runsT = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// runsAt returns ReconcileRuns on a registry of its own whose clock reads *now.
func runsAt(t *testing.T, now *time.Time) (*service.ReconcileRuns, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := service.NewReconcileRuns(reg, zap.NewNop(), func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// gauge reads one metric of reg by name; result selects a runs_total series.
func gauge(t *testing.T, reg *prometheus.Registry, name string, result ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(result) > 0 && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != result[0]) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s %v", name, result)
	return 0
}

func drift(ids ...int64) service.Report {
	rep := service.Report{Discs: 12, Summary: "some drift"}
	for _, id := range ids {
		rep.Problems = append(rep.Problems, service.DiscReport{DiscID: id, Verdict: service.VerdictDrift})
	}
	return rep
}

var clean = service.Report{Discs: 12, Clean: true, Summary: "clean: 12 discs agree across 16 partitions"}

func TestReconcileRunsKeepTheLatestCheckAndExportIt(t *testing.T) {
	now := runsT
	r, reg := runsAt(t, &now)
	for _, res := range []string{service.RunClean, service.RunDrift, service.RunError} {
		if got := gauge(t, reg, "recordshop_reconcile_runs_total", res); got != 0 {
			t.Fatalf("runs_total{result=%q} = %v before any check, want the series at 0", res, got)
		}
	}

	now = runsT.Add(time.Second)
	r.Record("periodic", runsT, time.Second, drift(3, 5), nil)
	last := r.Last()
	if last.Result != service.RunDrift || !cmp.Equal(last.Discs, map[int64]string{3: "drift", 5: "drift"}) || !last.LastClean.IsZero() {
		t.Fatalf("after a drift: %+v", last)
	}
	if d, run := gauge(t, reg, "recordshop_reconcile_drifting_discs"), gauge(t, reg, "recordshop_reconcile_last_run_timestamp_seconds"); d != 2 || run != float64(now.Unix()) {
		t.Errorf("drifting %v, last run %v; want 2 and %d", d, run, now.Unix())
	}

	// A check that cannot complete is counted, and changes neither the gauges nor the disc verdicts.
	now = runsT.Add(time.Minute)
	r.Record("periodic", runsT.Add(59*time.Second), time.Second, service.Report{}, errors.New("redis: connection refused"))
	last = r.Last()
	if last.Result != service.RunError || len(last.Discs) != 2 || !last.VerdictsOf.Equal(runsT) || !strings.Contains(last.Summary, "refused") {
		t.Fatalf("after an error: %+v", last)
	}
	if d, run := gauge(t, reg, "recordshop_reconcile_drifting_discs"), gauge(t, reg, "recordshop_reconcile_last_run_timestamp_seconds"); d != 2 || run != float64(runsT.Add(time.Second).Unix()) {
		t.Errorf("after an error: drifting %v, last run %v; want them unchanged (2, %d)", d, run, runsT.Add(time.Second).Unix())
	}

	now = runsT.Add(2 * time.Minute)
	r.Record("manual", runsT.Add(119*time.Second), time.Second, clean, nil)
	last = r.Last()
	if last.Result != service.RunClean || len(last.Discs) != 0 || !last.LastClean.Equal(now) || last.Trigger != "manual" || last.Checked != 12 {
		t.Fatalf("after a clean check: %+v", last)
	}
	if d, c := gauge(t, reg, "recordshop_reconcile_drifting_discs"), gauge(t, reg, "recordshop_reconcile_last_clean_timestamp_seconds"); d != 0 || c != float64(now.Unix()) {
		t.Errorf("drifting %v, last clean %v; want 0 and %d", d, c, now.Unix())
	}

	// A slow check that began before the one kept is counted, not kept: the kept one saw newer stores.
	now = runsT.Add(3 * time.Minute)
	r.Record("periodic", runsT.Add(100*time.Second), time.Minute, drift(9), nil)
	if last := r.Last(); last.Result != service.RunClean {
		t.Errorf("an older check replaced a newer one: %+v", last)
	}
	for res, want := range map[string]float64{service.RunClean: 1, service.RunDrift: 2, service.RunError: 1} {
		if got := gauge(t, reg, "recordshop_reconcile_runs_total", res); got != want {
			t.Errorf("runs_total{result=%q} = %v, want %v", res, got, want)
		}
	}
}

// The periodic loop never runs two checks at once, waits its interval after each, and gives each its timeout.
func TestReconcileRunsPeriodicChecksNeverOverlap(t *testing.T) {
	now := runsT
	r, reg := runsAt(t, &now)
	var running, most, calls atomic.Int32
	var sawDeadline atomic.Bool
	check := func(ctx context.Context, disc int64) (service.Report, error) {
		if disc != 0 {
			t.Errorf("periodic check of disc %d, want the whole shop", disc)
		}
		if _, ok := ctx.Deadline(); ok {
			sawDeadline.Store(true)
		}
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		calls.Add(1)
		time.Sleep(20 * time.Millisecond) // a check that takes longer than the interval
		return clean, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx, check, 5*time.Millisecond, time.Second) })
	testenv.Eventually(t, 5*time.Second, "five periodic checks", func() bool { return calls.Load() >= 5 })
	cancel()
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d checks ran at once, want 1", most.Load())
	}
	if !sawDeadline.Load() {
		t.Error("a periodic check ran without a timeout")
	}
	if got := gauge(t, reg, "recordshop_reconcile_runs_total", service.RunClean); got < 5 {
		t.Errorf("runs_total{clean} = %v after %d checks", got, calls.Load())
	}
}

// An operator's whole-shop check, and the fresh check after a repair, are recorded; a check of one disc is not.
func TestRecordingKeepsOperatorsWholeShopChecks(t *testing.T) {
	now := runsT
	r, _ := runsAt(t, &now)
	inner := fakeReconciler{check: drift(4), fixed: clean}
	rec := r.Recording(inner)
	if _, err := rec.Check(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	if r.Last().Ran {
		t.Fatalf("a check of one disc was kept: %+v", r.Last())
	}
	rep, err := rec.Check(context.Background(), 0)
	if err != nil || r.Last().Result != service.RunDrift || r.Last().Trigger != "manual" {
		t.Fatalf("whole-shop check: %v, kept %+v", err, r.Last())
	}
	now = runsT.Add(time.Second)
	if _, err := rec.Fix(context.Background(), rep); err != nil || r.Last().Result != service.RunClean {
		t.Fatalf("after a fix: %v, kept %+v", err, r.Last())
	}
}

type fakeReconciler struct{ check, fixed service.Report }

func (f fakeReconciler) Check(context.Context, int64) (service.Report, error) { return f.check, nil }
func (f fakeReconciler) Fix(context.Context, service.Report) (service.Report, error) {
	return f.fixed, nil
}
