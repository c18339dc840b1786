package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/service"
)

// Exit codes of recordshop reconcile besides 0 (clean).
const (
	exitDrift    = 1
	exitNotCheck = 2
)

// exitError carries an exit code out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// runReconcile checks that Redis and Postgres agree (and repairs Redis with --fix or --rebuild). Exit 0 clean,
// 1 drift found, 2 could not check.
func runReconcile(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	// A check of the whole shop holds a few hundred bytes per disc for the length of one run and then exits:
	// collecting garbage four times less often trades tens of MB for a fifth of its CPU (GOGC, if set, wins).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	s, err := open(ctx, cfg, needs{redis: true}, stderr)
	if err != nil {
		return &exitError{exitNotCheck, err}
	}
	defer s.close()
	rc := service.ReconcileConfig{StuckAfter: cfg.StuckAfter, Full: cfg.Full}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) && !cfg.JSON {
		rc.Progress = func(done, total int) {
			if total >= 500 {
				fmt.Fprintf(stderr, "\rchecked %d/%d discs", done, total)
				if done == total {
					fmt.Fprintln(stderr)
				}
			}
		}
	}
	r := api.NewReconciler(cfg.deps(s.pool, s.rdb, s.log, prometheus.NewRegistry()), rc)
	var rep service.Report
	switch {
	case cfg.Rebuild:
		rep, err = r.Rebuild(ctx)
	default:
		rep, err = r.Check(ctx, cfg.Disc)
		if err == nil && cfg.Fix && !rep.Clean {
			rep, err = r.Fix(ctx, rep)
		}
	}
	if err != nil {
		return &exitError{exitNotCheck, fmt.Errorf("reconcile: could not check: %w", err)}
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if !rep.Clean {
		return &exitError{code: exitDrift}
	}
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printReport writes the human table: one row per disc that is not ok, then the summary line.
func printReport(w io.Writer, rep service.Report) {
	for _, f := range rep.Fixed {
		fmt.Fprintln(w, "fixed:", f)
	}
	if len(rep.Problems) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "disc\tpartition\tredis\texpected\tpostgres\tpending\tunapplied\tdrift\tverdict\t")
		for _, d := range rep.Problems {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%+d\t%s\t\n", d.DiscID, d.Partition, d.RedisAvail,
				d.ExpectedAvail, d.PGStock, d.PendingUnits, d.Unapplied, d.Drift, d.Verdict)
		}
		_ = tw.Flush()
		for _, d := range rep.Problems {
			var notes []string
			for _, c := range d.Customers {
				notes = append(notes, fmt.Sprintf("customer %d has %d units in redis, %d expected", c.CustomerID, c.Redis, c.Expected))
			}
			if d.DeadLetters > 0 {
				notes = append(notes, fmt.Sprintf("%d dead letters (%d units)", d.DeadLetters, d.DeadUnits))
			}
			if d.StuckPending > 0 || d.StuckEvents > 0 {
				notes = append(notes, fmt.Sprintf("%d orders pending and %d stock events unapplied past the threshold", d.StuckPending, d.StuckEvents))
			}
			notes = append(notes, d.Notes...)
			if len(notes) > 0 {
				fmt.Fprintf(w, "disc %d: %s\n", d.DiscID, strings.Join(notes, "; "))
			}
		}
	}
	fmt.Fprintln(w, rep.Summary)
}
