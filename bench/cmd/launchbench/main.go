// Command launchbench is `make bench`: it starts a fresh stack per mode (devstack Postgres with fsync on, Redis
// with AOF everysec, `recordshop serve` as a child process), loads it with vegeta (the library, in process, at
// fixed rates: an open model), verifies the invariants after every scenario and writes bench/results/<scenario>.md
// with a PNG chart each. Any broken invariant makes it exit 1. The saturation scenario (saturation.go) is the
// exception to vegeta: it loads five servers in a closed loop with wrk, a lighter loader pinned to one core.
//
// It owns the scenarios, the invariant checks and the results files. It drives recordshop from outside, as
// production runs it: the built binary, HTTP, `recordshop reconcile`, and reads of the stores' state (the key
// layout from dal/redis). It must not start the shop in process or reach into its services, or it would
// measure something other than what is deployed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	recordshop string
	ceiling    string
	out        string
	scenarios  map[string]bool
	step       time.Duration
	rates      []int
	p99        time.Duration
	customers  int
	satSeconds int // how long each wrk run of the saturation scenario lasts
}

func main() { os.Exit(launchbench()) }

// launchbench runs the bench and returns the exit code: 0 every invariant held, 1 one broke, 2 it could not run.
func launchbench() int {
	var c config
	var scen, rates string
	flag.StringVar(&c.recordshop, "recordshop", "bin/recordshop", "the recordshop binary to bench")
	flag.StringVar(&c.ceiling, "ceiling", "bin/bench-ceiling", "the bare ceiling server (bench/cmd/ceiling)")
	flag.StringVar(&c.out, "out", "bench/results", "where the reports go")
	flag.StringVar(&scen, "scenarios", "hohpe-launch,sustained,browse,baseline,ceiling,saturation", "scenarios to run")
	flag.DurationVar(&c.step, "step", 5*time.Second, "duration of each rate step")
	flag.StringVar(&rates, "rates", "250,500,1000,2000,3000,4000,5000,6000,8000,10000,12000,14000,16000", "rate steps (orders/s), ascending")
	flag.DurationVar(&c.p99, "p99", 10*time.Millisecond, "the p99 a sustained step must keep")
	flag.IntVar(&c.customers, "customers", 300_000, "customers inserted per stack")
	flag.IntVar(&c.satSeconds, "saturation-seconds", 10, "seconds of each wrk run of the saturation scenario")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the bench itself (vegeta's side) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "launchbench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	c.scenarios = map[string]bool{}
	for _, s := range strings.Split(scen, ",") {
		c.scenarios[strings.TrimSpace(s)] = true
	}
	if c.satSeconds <= 0 {
		fmt.Fprintf(os.Stderr, "launchbench: -saturation-seconds must be at least 1, not %d\n", c.satSeconds)
		return 2
	}
	for _, r := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "launchbench: bad rate %q\n", r)
			return 2
		}
		c.rates = append(c.rates, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := bench(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "launchbench:", err)
		return 2
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "launchbench: FAILED: an invariant is broken (see the reports)")
		return 1
	}
	fmt.Fprintln(os.Stderr, "launchbench: every invariant held")
	return 0
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s launchbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// bench runs the chosen scenarios; ok is false when an invariant broke.
func bench(ctx context.Context, c config) (bool, error) {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return false, err
	}
	m := machineInfo()
	ok := true
	var redisBest, pgBest, ceilBest *run
	var redisLag lag

	if c.scenarios["hohpe-launch"] || c.scenarios["sustained"] || c.scenarios["browse"] {
		logf("starting the Redis-mode stack")
		s, from, to, err := startShop(ctx, c.recordshop, "redis", c.customers, logf)
		if err != nil {
			return false, err
		}
		if c.scenarios["hohpe-launch"] {
			r, err := hohpe(ctx, c, s, from)
			if err != nil {
				s.stop()
				return false, err
			}
			ok = r.write(c.out, m) && ok
		}
		if c.scenarios["sustained"] || c.scenarios["browse"] {
			r, best, l, err := sustained(ctx, c, s, "sustained", from+3000, to)
			if err != nil {
				s.stop()
				return false, err
			}
			redisBest, redisLag = best, l
			if c.scenarios["sustained"] {
				ok = r.write(c.out, m) && ok
			}
		}
		if c.scenarios["browse"] {
			r, err := browse(ctx, c, s, redisBest, from+3000, to)
			if err != nil {
				s.stop()
				return false, err
			}
			ok = r.write(c.out, m) && ok
		}
		s.stop()
	}
	if c.scenarios["baseline"] {
		logf("starting the Postgres-mode stack")
		s, from, to, err := startShop(ctx, c.recordshop, "postgres", c.customers, logf)
		if err != nil {
			return false, err
		}
		r, best, _, err := sustained(ctx, c, s, "baseline", from, to)
		s.stop()
		if err != nil {
			return false, err
		}
		pgBest = best
		if redisBest != nil && pgBest != nil {
			r.summary = append(r.summary, fmt.Sprintf("**Redis mode / Postgres mode: %d / %d orders/s = %.1fx** (target >= 10x: %s).",
				redisBest.rate, pgBest.rate, float64(redisBest.rate)/float64(pgBest.rate), verdict(float64(redisBest.rate) >= 10*float64(pgBest.rate))))
		}
		ok = r.write(c.out, m) && ok
	}
	if c.scenarios["ceiling"] {
		logf("starting the ceiling stack")
		s, err := startCeiling(ctx, c.ceiling, logf)
		if err != nil {
			return false, err
		}
		r, best, err := ceiling(ctx, c, s)
		s.stop()
		if err != nil {
			return false, err
		}
		ceilBest = best
		if redisBest != nil && ceilBest != nil {
			pct := 100 * float64(redisBest.rate) / float64(ceilBest.rate)
			r.summary = append(r.summary, fmt.Sprintf("**recordshop / ceiling: %d / %d orders/s = %.0f%%** (target >= 75%%: %s).",
				redisBest.rate, ceilBest.rate, pct, verdict(pct >= 75)))
		}
		ok = r.write(c.out, m) && ok
	}
	if c.scenarios["saturation"] {
		held, err := saturation(ctx, c, m)
		if err != nil {
			return false, err
		}
		ok = held && ok
	}
	if redisBest != nil {
		logf("Redis mode max sustained %d/s (p50 %s, p99 %s), writer lag p99 %s", redisBest.rate, redisBest.p(0.5), redisBest.p(0.99), redisLag.p99)
	}
	if pgBest != nil {
		logf("Postgres mode max sustained %d/s", pgBest.rate)
	}
	if ceilBest != nil {
		logf("ceiling max sustained %d/s", ceilBest.rate)
	}
	return ok, nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// machine describes where the bench ran.
type machine struct{ lines []string }

func machineInfo() machine {
	var m machine
	add := func(k, v string) { m.lines = append(m.lines, fmt.Sprintf("| %s | %s |", k, v)) }
	add("cores (nproc)", strings.TrimSpace(cmdOut("nproc")))
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				add("CPU", strings.TrimSpace(strings.SplitN(l, ":", 2)[1]))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		kb, _ := strconv.ParseFloat(f[1], 64)
		add("memory", fmt.Sprintf("%.1f GiB", kb/1024/1024))
	}
	add("kernel", strings.TrimSpace(cmdOut("uname", "-sr")))
	add("Go", strings.TrimSpace(cmdOut("go", "version")))
	pg := "postgres"
	if p, err := lookPG(); err == nil {
		pg = p
	}
	add("Postgres", strings.TrimSpace(cmdOut(pg, "--version"))+" (fsync on, synchronous_commit on)")
	add("Redis", strings.TrimSpace(cmdOut("redis-server", "--version"))+" (appendonly yes, appendfsync everysec)")
	add("load generator", "vegeta v12.13.0 (library, in process), on the same cores as the servers")
	return m
}

func lookPG() (string, error) {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/lib/postgresql/15/bin", "/usr/local/bin") {
		p := filepath.Join(dir, "postgres")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}
