// Command history measures how recordshop's costs grow with its history: the design promises that a launch's
// work is the same in the shop's first week and its tenth year. For each size (100k, S = 1M orders, M = 10M
// orders) it starts a fresh throwaway stack (dal/devstack, non-durable for fill speed), fills Postgres at
// schema version 2 with valid data that keeps the ledger identity (server-side INSERT ... SELECT and COPY,
// with the secondary indexes and foreign keys built after the rows), then times `recordshop migrate` on the
// full database (the later migrations meet history as an existing shop's would), the cold start of
// `recordshop serve` on an empty Redis, `recordshop reconcile` whole and for the hot disc, `reconcile
// --rebuild`, the two order lists over HTTP, a sale on the hot disc right after the cold start (past buyers'
// first orders, which read their units from Postgres where the start left them out of Redis, then their second
// orders, which Redis answers alone) and the Redis memory of the hot disc after the cold start and after the
// sale. It writes <out>/history.md with a table per size and the growth factor between sizes run together.
//
// It drives recordshop from outside, as bench/cmd/launchbench does: the built binary as child processes, HTTP,
// and reads of the stores' state (the key layout from dal/redis). It must not start the shop in process, or it
// would measure something other than what is deployed. Everything it starts listens on 127.0.0.1 and is
// stopped when it returns, or when it is interrupted, or when -timeout passes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// size is one history to fill: its orders, customers and discs.
type size struct {
	name                     string
	orders, customers, discs int64
}

// sizes are the histories the issue asks for, and a small one for a quick smoke run.
var sizes = map[string]size{
	"100k": {name: "100k", orders: 100_000, customers: 10_000, discs: 1_000},
	"S":    {name: "S", orders: 1_000_000, customers: 100_000, discs: 10_000},
	"M":    {name: "M", orders: 10_000_000, customers: 1_000_000, discs: 100_000},
}

type config struct {
	recordshop   string
	out          string
	sizes        []size
	repeat       int
	migrateRuns  int // runs of migrate (each copies the filled database first): -repeat unless set
	listRequests int
	opTimeout    time.Duration
	hold         time.Duration // keep each size's stack up this long after measuring it, to look at it by hand
	dir          string
	command      string // how this run was invoked, for the report
}

func main() { os.Exit(history()) }

// history runs the chosen sizes and returns the exit code: 0 every size measured with every check held,
// 1 a check broke (the report says which), 2 it could not run.
func history() int {
	var c config
	var sizeList string
	var timeout time.Duration
	flag.StringVar(&c.recordshop, "recordshop", "bin/recordshop", "the recordshop binary to measure")
	flag.StringVar(&c.out, "out", "bench/results", "where history.md goes")
	flag.StringVar(&sizeList, "size", "S", "sizes to run, comma-separated, smallest first: 100k, S (1M orders), M (10M orders)")
	flag.IntVar(&c.repeat, "repeat", 3, "runs of each timed operation (min, median, max are reported)")
	flag.IntVar(&c.migrateRuns, "migrate-runs", 0, "runs of migrate, the longest operation (-repeat when 0)")
	flag.IntVar(&c.listRequests, "list-requests", 300, "sequential requests per order list (p50, p99)")
	flag.DurationVar(&c.opTimeout, "op-timeout", 30*time.Minute, "bound on each child process and each list series")
	flag.DurationVar(&timeout, "timeout", 4*time.Hour, "bound on the whole run")
	flag.DurationVar(&c.hold, "hold", 0, "keep each size's stack up this long after measuring it (its URLs are logged), to look at it by hand")
	flag.StringVar(&c.dir, "dir", "", "parent directory of the throwaway stacks (default: the system temp dir)")
	flag.Parse()
	if c.migrateRuns == 0 {
		c.migrateRuns = c.repeat
	}
	if c.repeat < 1 || c.listRequests < 1 || c.migrateRuns < 1 {
		fmt.Fprintln(os.Stderr, "history: -repeat and -list-requests must be at least 1")
		return 2
	}
	for _, name := range strings.Split(sizeList, ",") {
		sz, ok := sizes[strings.TrimSpace(name)]
		if !ok {
			fmt.Fprintf(os.Stderr, "history: unknown size %q (known: 100k, S, M)\n", name)
			return 2
		}
		c.sizes = append(c.sizes, sz)
	}
	sort.SliceStable(c.sizes, func(i, j int) bool { return c.sizes[i].orders < c.sizes[j].orders })
	c.command = "go run ./bench/cmd/history " + strings.Join(os.Args[1:], " ")
	bin, err := filepath.Abs(c.recordshop)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "history: the recordshop binary: %v (go build -o %s ./cmd/recordshop)\n", err, c.recordshop)
		return 2
	}
	c.recordshop = bin

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	m := machineInfo(c)
	started := time.Now()
	var results []*sizeResult
	ok := true
	for _, sz := range c.sizes {
		if err := checkDisk(c.dir, sz); err != nil {
			fmt.Fprintln(os.Stderr, "history:", err)
			if len(results) == 0 {
				return 2
			}
			break
		}
		r, err := measureSize(ctx, c, sz)
		if err != nil {
			fmt.Fprintf(os.Stderr, "history: size %s: %v\n", sz.name, err)
			if r.fill == nil { // nothing of this size was measured
				if len(results) == 0 {
					return 2
				}
				break
			}
			r.notes = append(r.notes, fmt.Sprintf("**The run of this size stopped early: %v**", err))
			results = append(results, r)
			ok = false
			break
		}
		results = append(results, r)
		for _, ch := range r.checks {
			ok = ok && ch.ok
		}
	}
	if err := writeReport(c, m, started, results); err != nil {
		fmt.Fprintln(os.Stderr, "history:", err)
		return 2
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "history: FAILED: a check broke (see the report)")
		return 1
	}
	return 0
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s history: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// bytesPerOrder is the disk one order costs at its peak, measured at S (rows and indexes of every table, the
// WAL, the schema v2 copy the repeated migrate runs start from, and one of those runs' copies).
const bytesPerOrder = 1500

// checkDisk refuses a size the free disk cannot hold.
func checkDisk(dir string, sz size) error {
	if dir == "" {
		dir = os.TempDir()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free disk of %s: %w", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	need := sz.orders * bytesPerOrder
	logf("size %s needs about %s of disk in %s; %s free", sz.name, gib(need), dir, gib(free))
	if free < need {
		return fmt.Errorf("size %s needs about %s of disk in %s and only %s is free", sz.name, gib(need), dir, gib(free))
	}
	return nil
}

// gib shows a size of disk or memory.
func gib(b int64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// machine describes where the run happened.
type machine struct{ lines []string }

func machineInfo(c config) machine {
	var m machine
	add := func(k, v string) { m.lines = append(m.lines, fmt.Sprintf("| %s | %s |", k, v)) }
	add("cores (nproc)", cmdOut("nproc"))
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
		if len(f) > 1 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			add("memory", fmt.Sprintf("%.1f GiB", kb/1024/1024))
		}
	}
	add("kernel", cmdOut("uname", "-sr"))
	add("Go", cmdOut("go", "version"))
	add("Postgres", cmdOut(postgresBinary(), "--version")+" (devstack, non-durable: fsync, synchronous_commit and full_page_writes off; "+
		"shared_buffers 128 MB, the default; pg_stat_statements and auto_explain loaded)")
	add("Redis", cmdOut("redis-server", "--version")+" (devstack, no AOF)")
	tree := cmdOut("git", "log", "-1", "--format=%h %s")
	if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
		tree += ", with uncommitted changes"
	}
	add("tree", tree+" (the binary measured, "+filepath.Base(c.recordshop)+", built from it by the caller)")
	return m
}

func postgresBinary() string {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/lib/postgresql/15/bin") {
		p := filepath.Join(dir, "postgres")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return "postgres"
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
