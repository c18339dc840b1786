package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The saturation scenario: a closed-loop load (wrk, few threads, a fixed number of connections each sending its
// next request when the last one is answered) on five servers, each run twice in alternating order so the
// machine's noise shows. vegeta, the open-model loader of the other scenarios, costs about as much CPU as the
// server on 2 cores; wrk is far lighter and is pinned to one core, so this is the throughput the servers reach
// when they, not the loader, are the limit.

// The seven configurations, in the order of round 1 (round 2 runs them backwards).
const (
	satWriter   = "writer"    // recordshop serve, Redis mode, writer in process (as shipped)
	satNoWriter = "no-writer" // recordshop serve --no-writer, Redis mode, RS_MAX_BACKLOG=0
	satCeiling  = "ceiling"   // bench/cmd/ceiling: the frozen reservation script behind a bare Hertz handler
	satPostgres = "postgres"  // recordshop serve, RS_RESERVE_MODE=postgres
	satSoldOut  = "sold-out"  // recordshop serve, Redis mode, every order of a sold-out disc
	// satSoldOutAlone is sold-out with the server confined to satServerCPU from its start, so that wrk and the
	// server do not share a core: the refusals' latency without the loader's scheduling in it.
	satSoldOutAlone = "sold-out-core0"
	// satEdge loads GET /healthz of a recordshop serve in the same loop as sold-out: the edge doing nothing,
	// the latency that wrk and serve sharing the cores give any answer.
	satEdge = "healthz"
)

var satKinds = []string{satWriter, satNoWriter, satCeiling, satPostgres, satSoldOut, satSoldOutAlone, satEdge}

// isSoldOut reports whether a configuration loads a sold-out disc (every answer 409).
func isSoldOut(kind string) bool { return kind == satSoldOut || kind == satSoldOutAlone }

const (
	satConns     = 32                // wrk -c
	satThreads   = 1                 // wrk -t
	satLoaderCPU = "1"               // taskset -c: the core wrk is pinned to
	satServerCPU = "0"               // taskset -c: the core sold-out-core0's server runs on
	satStock     = int64(10_000_000) // units of the disc of an order configuration: the most POST /v1/discs takes
	satSettle    = 2 * time.Second   // pause before each run, after the backlog is back to 0
	satDrainMax  = 90 * time.Second  // the most a run waits for the writer to drain
	// satAfter is the pause between the drain (or wrk's exit) and the second CPU sample: the writer's last
	// batch acknowledges and deletes its entries after it empties the pending hash.
	satAfter = 250 * time.Millisecond
)

// satStack is one configuration's stack, kept up for both rounds.
type satStack struct {
	kind     string
	s        *shop
	from, to int64 // the customers the load picks from
	writer   *exec.Cmd
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct{ calls, usec int64 }

// cpuSample is the CPU the stack's processes had used at one instant.
type cpuSample struct {
	redis float64            // seconds: INFO cpu used_cpu_sys + used_cpu_user
	cmds  map[string]cmdStat // INFO commandstats
	api   int64              // clock ticks: utime + stime of the serve (or ceiling) process
	pg    int64              // clock ticks: every Postgres process of the stack; -1 unknown
	busy  int64              // clock ticks: the whole machine's non-idle time (/proc/stat), steal excluded
	steal int64              // clock ticks: the whole machine's steal time (/proc/stat)
	// The in-process writer's commits and the orders they carried (recordshop_writer_batch_size's count and
	// sum on the server's /metrics); ok false without a writer in process.
	commits, committed float64
	writerOK           bool
}

// wrkOut is what one wrk run reported.
type wrkOut struct {
	rps        float64
	requests   int
	p50, p99   time.Duration
	non2xx     int
	socketErrs int
	statuses   map[int]int // counted by the Lua script's response()
	ids        []string    // order ids of the 201 answers, from the Lua script
	raw        string
}

// satRun is one run of one configuration.
type satRun struct {
	round    int
	kind     string
	from, to int64 // the customers the load picked from
	disc     int64
	initial  int64
	created  []string // order ids answered 201 (the load's, and the sold-out disc's one sale)
	w        wrkOut
	wall     time.Duration // wrk's wall time
	loader   time.Duration // wrk's user + system CPU (getrusage of the child)
	drain    time.Duration // from wrk's exit until the backlog was 0 (configurations with a writer in process)
	window   time.Duration // from the first CPU sample to the second
	before   cpuSample
	after    cpuSample
	// The ceiling has no Postgres: its disc's avail and its stream's length before and after the run.
	availBefore, availAfter, xlenBefore, xlenAfter int64
}

// want is the status every answer of the run must have.
func (r *satRun) want() int {
	switch {
	case isSoldOut(r.kind):
		return http.StatusConflict
	case r.kind == satEdge:
		return http.StatusOK
	}
	return http.StatusCreated
}

// good is the number of answers with the wanted status: orders, or refusals for sold-out.
func (r *satRun) good() int { return r.w.statuses[r.want()] }

// goodRate is wrk's requests/s scaled to the answers with the wanted status.
func (r *satRun) goodRate() float64 {
	if r.w.requests == 0 {
		return 0
	}
	return r.w.rps * float64(r.good()) / float64(r.w.requests)
}

// perGood is a CPU amount in seconds per wanted answer, in µs.
func (r *satRun) perGood(sec float64) float64 {
	if r.good() == 0 {
		return 0
	}
	return sec * 1e6 / float64(r.good())
}

// redisUS is Redis' CPU per wanted answer over the measuring window, in µs.
func (r *satRun) redisUS() float64 { return r.perGood(r.after.redis - r.before.redis) }

// apiUS is the server process's CPU per wanted answer, in µs.
func (r *satRun) apiUS() float64 { return r.perGood(float64(r.after.api-r.before.api) / clkTck()) }

// pgUS is Postgres' CPU per wanted answer, in µs; negative when unknown.
func (r *satRun) pgUS() float64 {
	if r.before.pg < 0 || r.after.pg < 0 {
		return -1
	}
	return r.perGood(float64(r.after.pg-r.before.pg) / clkTck())
}

// clkTck is the kernel's clock ticks per second (getconf CLK_TCK), the unit of /proc/<pid>/stat times.
var clkTck = sync.OnceValue(func() float64 {
	if n, err := strconv.ParseFloat(strings.TrimSpace(cmdOut("getconf", "CLK_TCK")), 64); err == nil && n > 0 {
		return n
	}
	return 100
})

// saturation runs the scenario and writes <out>/saturation.md; ok is false when an invariant broke.
func saturation(ctx context.Context, c config, m machine) (bool, error) {
	for _, bin := range []string{"wrk", "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false, fmt.Errorf("saturation: %s: %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "launchbench-saturation-")
	if err != nil {
		return false, fmt.Errorf("saturation: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	stacks := map[string]*satStack{}
	defer func() {
		// All at once: each stop waits for its server's graceful shutdown.
		var wg sync.WaitGroup
		for _, st := range stacks {
			wg.Add(1)
			go func() { defer wg.Done(); st.stop() }()
		}
		wg.Wait()
	}()
	for _, k := range satKinds {
		logf("saturation: starting the %s stack", k)
		st, err := startSat(ctx, c, k)
		if err != nil {
			return false, fmt.Errorf("saturation: start %s: %w", k, err)
		}
		stacks[k] = st
	}
	// The stacks just inserted their customers: let Postgres write them out before the first run.
	for _, k := range satKinds {
		stacks[k].checkpoint(ctx)
	}
	rounds := [][]string{satKinds, reversed(satKinds)}
	var runs []*satRun
	for i, kinds := range rounds {
		for _, k := range kinds {
			r, err := stacks[k].run(ctx, c, i+1, dir)
			if err != nil {
				return false, fmt.Errorf("saturation: round %d %s: %w", i+1, k, err)
			}
			logf("saturation: round %d %s: %.0f req/s, p50 %s, p99 %s, non-2xx %d, wrk %.2f of a core, Redis %.1f µs, API %.1f µs per answer",
				i+1, k, r.w.rps, fmtD(r.w.p50), fmtD(r.w.p99), r.w.non2xx, r.loader.Seconds()/r.wall.Seconds(), r.redisUS(), r.apiUS())
			runs = append(runs, r)
		}
	}
	logf("saturation: verifying")
	checks, err := verifySaturation(ctx, stacks, runs)
	if err != nil {
		return false, err
	}
	return writeSaturation(c, m, runs, checks)
}

// reversed returns a reversed copy of s.
func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// startSat starts the stack of one configuration.
func startSat(ctx context.Context, c config, kind string) (*satStack, error) {
	st := &satStack{kind: kind}
	var err error
	switch kind {
	case satWriter, satSoldOut, satEdge:
		st.s, st.from, st.to, err = startShop(ctx, c.recordshop, "redis", c.customers, logf)
	case satSoldOutAlone:
		st.s, st.from, st.to, err = startShopWith(ctx, c.recordshop, "redis", c.customers, logf, satServerCPU, nil)
	case satNoWriter:
		st.s, st.from, st.to, err = startShopWith(ctx, c.recordshop, "redis", c.customers, logf, "",
			[]string{"RS_MAX_BACKLOG=0"}, "--no-writer")
	case satPostgres:
		st.s, st.from, st.to, err = startShop(ctx, c.recordshop, "postgres", c.customers, logf)
	case satCeiling:
		st.s, err = startCeiling(ctx, c.ceiling, logf)
		st.from, st.to = 1, int64(max(1, c.customers))
	default:
		err = fmt.Errorf("unknown configuration %q", kind)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// stop stops the writer started for verification, if any, and the stack.
func (st *satStack) stop() {
	st.stopWriter()
	st.s.stop()
}

// hasWriter reports whether the configuration's serve runs the writer in process.
func (st *satStack) hasWriter() bool { return stHasWriter(st.kind) }

// checkpoint runs VACUUM (ANALYZE) and CHECKPOINT on the stack's Postgres (bounded), so that neither the
// autovacuum the last run's rows call for nor writing out what it left dirty falls into a later run, on the
// cores that run shares.
func (st *satStack) checkpoint(ctx context.Context) {
	if st.s.pool == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, sql := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if _, err := st.s.pool.Exec(cctx, sql); err != nil {
			logf("saturation: %s: %s: %v", st.kind, sql, err)
		}
	}
}

// waitDrained waits until the stack's backlog is 0, at most limit; it returns how long it waited and whether
// the backlog reached 0.
func (st *satStack) waitDrained(ctx context.Context, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for deadline := start.Add(limit); ; time.Sleep(20 * time.Millisecond) {
		if b, err := st.s.backlog(); err == nil && b == 0 {
			return time.Since(start), true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), false
		}
	}
}

// run prepares a disc, lets the stack settle, loads it with wrk for c.satSeconds and measures.
func (st *satStack) run(ctx context.Context, c config, round int, dir string) (*satRun, error) {
	r := &satRun{round: round, kind: st.kind, from: st.from, to: st.to}
	switch st.kind {
	case satCeiling:
		var err error
		if r.availBefore, r.xlenBefore, err = st.ceilingState(ctx); err != nil {
			return nil, err
		}
		r.disc, r.initial = 1, r.availBefore
	case satSoldOut, satSoldOutAlone:
		d, err := st.s.createDisc(fmt.Sprintf("Saturation %s r%d", st.kind, round), 1, 0)
		if err != nil {
			return nil, fmt.Errorf("create disc: %w", err)
		}
		id, err := st.s.buy(st.from, d.ID)
		if err != nil {
			return nil, fmt.Errorf("buy the one unit of disc %d: %w", d.ID, err)
		}
		r.disc, r.initial, r.created = d.ID, 1, []string{id}
	case satEdge:
		// No disc: the script asks for GET /healthz when its disc is 0.
	default:
		d, err := st.s.createDisc(fmt.Sprintf("Saturation %s r%d", st.kind, round), satStock, 0)
		if err != nil {
			return nil, fmt.Errorf("create disc: %w", err)
		}
		r.disc, r.initial = d.ID, satStock
	}
	script := filepath.Join(dir, fmt.Sprintf("r%d-%s.lua", round, st.kind))
	idsFile := filepath.Join(dir, fmt.Sprintf("r%d-%s.ids", round, st.kind))
	if err := os.WriteFile(script, []byte(wrkScript(r.disc, st.from, st.to, idsFile)), 0o644); err != nil {
		return nil, fmt.Errorf("write wrk script: %w", err)
	}

	// Settle: the writer has drained what came before (the sold-out disc's sale included), then a pause.
	if st.kind != satNoWriter {
		if _, ok := st.waitDrained(ctx, satDrainMax); !ok {
			logf("saturation: %s: backlog not 0 after %s before round %d", st.kind, satDrainMax, round)
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(satSettle):
	}

	logf("saturation: round %d %s: wrk for %ds on disc %d", round, st.kind, c.satSeconds, r.disc)
	t0 := time.Now()
	var err error
	if r.before, err = st.sample(ctx); err != nil {
		return nil, err
	}
	r.w, r.wall, r.loader, err = runWrk(ctx, c.satSeconds, script, st.s.base+"/v1/orders", idsFile)
	if err != nil {
		return nil, err
	}
	// The writer's work for these orders (reads, Postgres, acknowledgements) counts: measure until it is done.
	if st.hasWriter() {
		var ok bool
		if r.drain, ok = st.waitDrained(ctx, satDrainMax); !ok {
			logf("saturation: round %d %s: backlog not 0 after %s", round, st.kind, satDrainMax)
		}
	}
	time.Sleep(satAfter)
	if r.after, err = st.sample(ctx); err != nil {
		return nil, err
	}
	r.window = time.Since(t0)
	r.created = append(r.created, r.w.ids...)
	if st.kind == satCeiling {
		if r.availAfter, r.xlenAfter, err = st.ceilingState(ctx); err != nil {
			return nil, err
		}
	}
	st.checkpoint(ctx)
	return r, nil
}

// ceilingState reads the ceiling's disc 1: units left, and entries in its order stream.
func (st *satStack) ceilingState(ctx context.Context) (avail, xlen int64, err error) {
	// The frozen key layout of bench/cmd/ceiling: namespace "ceiling:", partition disc mod 16.
	const disc, stream = "ceiling:{1}:disc:1", "ceiling:{1}:orders"
	if avail, err = st.s.rdb.HGet(ctx, disc, "avail").Int64(); err != nil {
		return 0, 0, fmt.Errorf("ceiling: read avail: %w", err)
	}
	if xlen, err = st.s.rdb.XLen(ctx, stream).Result(); err != nil {
		return 0, 0, fmt.Errorf("ceiling: read stream length: %w", err)
	}
	return avail, xlen, nil
}

// buy orders one unit of disc for customer as the storefront and returns the order id of the 201.
func (s *shop) buy(customer, disc int64) (string, error) {
	body := fmt.Sprintf(`{"customer_id":%d,"disc_id":%d,"quantity":1}`, customer, disc)
	req, err := http.NewRequest("POST", s.base+"/v1/orders", strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("buy: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+storefrontToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("buy: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("buy: status %d: %s", resp.StatusCode, b)
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil || o.ID == "" {
		return "", fmt.Errorf("buy: no order id in %s: %v", b, err)
	}
	return o.ID, nil
}

// sample reads the CPU the stack's Redis, server process and Postgres have used so far.
func (st *satStack) sample(ctx context.Context) (cpuSample, error) {
	var cs cpuSample
	info, err := st.s.rdb.Info(ctx, "cpu", "commandstats").Result()
	if err != nil {
		return cs, fmt.Errorf("INFO cpu commandstats: %w", err)
	}
	cs.redis, cs.cmds = parseRedisInfo(info)
	if stHasWriter(st.kind) {
		if cs.commits, cs.committed, err = writerCommits(ctx, st.s.base); err != nil {
			return cs, err
		}
		cs.writerOK = true
	}
	if st.s.cmd != nil && st.s.cmd.Process != nil {
		if f, err := procStat(st.s.cmd.Process.Pid); err == nil {
			cs.api = f.utime + f.stime
		} else {
			return cs, fmt.Errorf("server CPU: %w", err)
		}
	}
	if cs.busy, cs.steal, err = machineTicks(); err != nil {
		return cs, err
	}
	cs.pg = -1
	if st.kind != satCeiling {
		if t, err := postgresTicks(st.s.stack.PGURL); err == nil {
			cs.pg = t
		}
	}
	return cs, nil
}

// writerCommits reads the in-process writer's commits so far and the orders they carried from the server's
// /metrics (recordshop_writer_batch_size: one observation per commit, of its orders).
func writerCommits(ctx context.Context, base string) (commits, orders float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("writer metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("writer metrics: %w", err)
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(value, 64)
		switch {
		case perr != nil:
		case name == "recordshop_writer_batch_size_count":
			commits, found = v, found+1
		case name == "recordshop_writer_batch_size_sum":
			orders, found = v, found+1
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("writer metrics: recordshop_writer_batch_size_count and _sum not both on %s/metrics", base)
	}
	return commits, orders, nil
}

// writerRates are the in-process writer's commits per second, orders per commit and stream reads
// (XREADGROUP) per second over the run's window; ok false without a writer in process.
func (r *satRun) writerRates() (commitsPerSec, ordersPerCommit, readsPerSec float64, ok bool) {
	if !r.before.writerOK || !r.after.writerOK || r.window <= 0 {
		return 0, 0, 0, false
	}
	commits := r.after.commits - r.before.commits
	if commits > 0 {
		ordersPerCommit = (r.after.committed - r.before.committed) / commits
	}
	reads := r.after.cmds["xreadgroup"].calls - r.before.cmds["xreadgroup"].calls
	return commits / r.window.Seconds(), ordersPerCommit, float64(reads) / r.window.Seconds(), true
}

// machineTicks reads the first line of /proc/stat: the time all cores spent busy (user, nice, system, irq,
// softirq; guest time is inside user) and stolen by the hypervisor, in clock ticks.
func machineTicks() (busy, steal int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("machine CPU: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("machine CPU: /proc/stat starts %q", line)
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return n(1) + n(2) + n(3) + n(6) + n(7), n(8), nil
}

// otherCores is the CPU the rest of the machine used during the window, in cores: everything busy but wrk, the
// stack's Redis, its server process and its Postgres (so: the other stacks, the bench itself, other programs).
func (r *satRun) otherCores() float64 {
	sec := float64(r.after.busy-r.before.busy)/clkTck() - r.loader.Seconds() - (r.after.redis - r.before.redis) -
		float64(r.after.api-r.before.api)/clkTck()
	if r.before.pg >= 0 && r.after.pg >= 0 {
		sec -= float64(r.after.pg-r.before.pg) / clkTck()
	}
	return sec / r.window.Seconds()
}

// stealCores is the hypervisor's steal time during the window, in cores.
func (r *satRun) stealCores() float64 {
	return float64(r.after.steal-r.before.steal) / clkTck() / r.window.Seconds()
}

// parseRedisInfo reads used_cpu_sys + used_cpu_user (seconds) and the commandstats lines of an INFO answer.
func parseRedisInfo(info string) (float64, map[string]cmdStat) {
	var cpu float64
	cmds := map[string]cmdStat{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		case strings.HasPrefix(k, "cmdstat_"):
			var cs cmdStat
			for _, kv := range strings.Split(v, ",") {
				name, val, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseInt(val, 10, 64)
				switch name {
				case "calls":
					cs.calls = n
				case "usec":
					cs.usec = n
				}
			}
			cmds[strings.TrimPrefix(k, "cmdstat_")] = cs
		}
	}
	return cpu, cmds
}

// statFields are the fields of /proc/<pid>/stat the bench reads (times in clock ticks).
type statFields struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

// procStat reads /proc/<pid>/stat: ppid (field 4), utime, stime, cutime, cstime (fields 14-17).
func procStat(pid int) (statFields, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return statFields{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count the fields after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return statFields{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 15 {
		return statFields{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	n := func(j int) int64 { v, _ := strconv.ParseInt(f[j-3], 10, 64); return v }
	return statFields{ppid: int(n(4)), utime: n(14), stime: n(15), cutime: n(16), cstime: n(17)}, nil
}

// postgresTicks sums the CPU of a devstack Postgres: the postmaster (found by the port of pgURL on its command
// line) with the children it has reaped (cutime, cstime), plus its live children (backends, walwriter, ...).
func postgresTicks(pgURL string) (int64, error) {
	u, err := url.Parse(pgURL)
	if err != nil {
		return 0, fmt.Errorf("postgres CPU: %w", err)
	}
	port := u.Port()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	master := 0
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != "postgres" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-p" && args[i+1] == port {
				master, _ = strconv.Atoi(filepath.Base(d))
			}
		}
	}
	if master == 0 {
		return 0, fmt.Errorf("postgres CPU: no postmaster on port %s", port)
	}
	m, err := procStat(master)
	if err != nil {
		return 0, fmt.Errorf("postgres CPU: %w", err)
	}
	sum := m.utime + m.stime + m.cutime + m.cstime
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if pid == master {
			continue
		}
		if f, err := procStat(pid); err == nil && f.ppid == master {
			sum += f.utime + f.stime
		}
	}
	return sum, nil
}

// wrkScript is the wrk Lua script of a run: POST /v1/orders of disc, customers from..to in turn (each thread
// starting elsewhere), quantity 1, no Idempotency-Key. It counts the answers by status and keeps the order id
// of every 201; done() prints the counts ("rs-status <code> <n>") and writes the ids to idsFile, one a line.
func wrkScript(disc, from, to int64, idsFile string) string {
	return fmt.Sprintf(`-- launchbench saturation: POST /v1/orders, disc %[1]d, customers %[2]d..%[3]d in turn, quantity 1.
local disc, from, span = %[1]d, %[2]d, %[3]d - %[2]d + 1
local ids_file = %[4]q
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %[5]s"

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  counts = {}
  ids = {}
  n = ((tid or 1) - 1) * 7919
end

function request()
  if disc == 0 then
    return wrk.format("GET", "/healthz", {})
  end
  local c = from + (n %% span)
  n = n + 1
  return wrk.format(nil, nil, nil, '{"customer_id":' .. c .. ',"disc_id":' .. disc .. ',"quantity":1}')
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status == 201 then
    local s = string.find(body, '"id":"', 1, true)
    if s then
      local e = string.find(body, '"', s + 6, true)
      if e then
        ids[#ids + 1] = string.sub(body, s + 6, e - 1)
      end
    end
  end
end

function done(summary, latency, requests)
  local total = {}
  local f = assert(io.open(ids_file, "w"))
  for _, t in ipairs(threads) do
    for code, k in pairs(t:get("counts")) do
      total[code] = (total[code] or 0) + k
    end
    for _, id in ipairs(t:get("ids")) do
      f:write(id, "\n")
    end
  end
  f:close()
  for code, k in pairs(total) do
    io.write(string.format("rs-status %%d %%d\n", code, k))
  end
end
`, disc, from, to, idsFile, storefrontToken)
}

// runWrk runs `taskset -c 1 wrk -t1 -c32 -d<seconds>s --latency -s script url` and returns its report, its wall
// time and its CPU (user + system, from getrusage of the child: taskset execs wrk, so the child is wrk).
func runWrk(ctx context.Context, seconds int, script, target, idsFile string) (wrkOut, time.Duration, time.Duration, error) {
	wctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(wctx, "taskset", "-c", satLoaderCPU, "wrk", "-t"+strconv.Itoa(satThreads),
		"-c"+strconv.Itoa(satConns), "-d"+strconv.Itoa(seconds)+"s", "--latency", "-s", script, target)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if ctx.Err() != nil {
		return wrkOut{}, 0, 0, fmt.Errorf("wrk: %w", ctx.Err())
	}
	if err != nil {
		return wrkOut{}, 0, 0, fmt.Errorf("wrk: %w: %s%s", err, out.String(), errb.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	w, err := parseWrk(out.String())
	if err != nil {
		return wrkOut{}, 0, 0, fmt.Errorf("wrk: %w:\n%s", err, out.String())
	}
	b, err := os.ReadFile(idsFile)
	if err != nil {
		return wrkOut{}, 0, 0, fmt.Errorf("wrk: order ids: %w", err)
	}
	w.ids = strings.Fields(string(b))
	return w, wall, cpu, nil
}

// parseWrk reads wrk's report: Requests/sec, the 50% and 99% lines of --latency, the requests, "Non-2xx or 3xx
// responses", "Socket errors" and the script's "rs-status" lines.
func parseWrk(s string) (wrkOut, error) {
	w := wrkOut{statuses: map[int]int{}, raw: s}
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			w.rps, _ = strconv.ParseFloat(f[1], 64)
			seen["rps"] = true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return w, err
			}
			if f[0] == "50%" {
				w.p50 = d
			} else {
				w.p99 = d
			}
			seen[f[0]] = true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			w.requests, _ = strconv.Atoi(f[0])
			seen["requests"] = true
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			w.non2xx, _ = strconv.Atoi(f[len(f)-1])
		case strings.HasPrefix(strings.TrimSpace(line), "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				w.socketErrs += n
			}
		case len(f) == 3 && f[0] == "rs-status":
			code, _ := strconv.Atoi(f[1])
			n, _ := strconv.Atoi(f[2])
			w.statuses[code] += n
		}
	}
	for _, k := range []string{"rps", "50%", "99%", "requests"} {
		if !seen[k] {
			return w, fmt.Errorf("no %q in the report", k)
		}
	}
	return w, nil
}

// parseWrkDuration reads a wrk latency such as 812.00us, 3.21ms, 1.02s or 1.50m.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("latency %q: %w", s, err)
			}
			return time.Duration(f * float64(u.d)), nil
		}
	}
	return 0, fmt.Errorf("latency %q: unknown unit", s)
}

// startWriter starts `recordshop writer` on the stack (for the no-writer configuration, whose serve has none),
// with its metrics on a free loopback port.
func (st *satStack) startWriter() error {
	addr, err := freeAddr()
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	cmd := exec.Command(st.s.bin, "writer")
	cmd.Env = append(append(os.Environ(), st.s.env...), "RS_METRICS_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("recordshop writer: %w", err)
	}
	st.writer = cmd
	return nil
}

// stopWriter stops the writer startWriter started (SIGTERM, SIGKILL after 15 s).
func (st *satStack) stopWriter() {
	if st.writer == nil || st.writer.Process == nil {
		return
	}
	_ = st.writer.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = st.writer.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = st.writer.Process.Kill()
		<-done
	}
	st.writer = nil
}

// verifySaturation checks every run after both rounds: the status of every answer, and the stores' invariants
// (launchbench's verify for the shop's discs, with a `recordshop writer` draining the no-writer stack first;
// the stream against the stock for the ceiling).
func verifySaturation(ctx context.Context, stacks map[string]*satStack, runs []*satRun) ([]check, error) {
	var checks []check
	add := func(r *satRun, what string, ok bool, format string, args ...any) {
		checks = append(checks, check{what: fmt.Sprintf("r%d %s: %s", r.round, r.kind, what), ok: ok, got: fmt.Sprintf(format, args...)})
	}
	if st := stacks[satNoWriter]; st != nil {
		logf("saturation: starting recordshop writer on the no-writer stack to drain it")
		if err := st.startWriter(); err != nil {
			return nil, fmt.Errorf("saturation: %w", err)
		}
		defer st.stopWriter()
	}
	for _, r := range runs {
		w := r.w
		other := w.requests - r.good()
		switch {
		case isSoldOut(r.kind):
			add(r, "every answer 409 (wrk's Non-2xx count = requests; the script's count by status)",
				w.non2xx == w.requests && other == 0 && w.requests > 0, "%d requests, %d non-2xx, statuses %s", w.requests, w.non2xx, fmtStatuses(w.statuses))
		case r.kind == satEdge:
			add(r, "every answer 200 (no Non-2xx line from wrk; the script's count by status)",
				w.non2xx == 0 && other == 0 && w.requests > 0, "%d requests, %d non-2xx, statuses %s", w.requests, w.non2xx, fmtStatuses(w.statuses))
		default:
			add(r, "every answer 201 (no Non-2xx line from wrk; the script's count by status)",
				w.non2xx == 0 && other == 0 && w.requests > 0, "%d requests, %d non-2xx, statuses %s", w.requests, w.non2xx, fmtStatuses(w.statuses))
		}
		add(r, "no socket errors (connect, read, write, timeout)", w.socketErrs == 0, "%d", w.socketErrs)
		if r.kind == satEdge {
			continue // it touched no store
		}
		if r.kind == satCeiling {
			sold, entries := r.availBefore-r.availAfter, r.xlenAfter-r.xlenBefore
			add(r, "Redis: units taken = stream entries added", sold == entries, "%d taken, %d entries", sold, entries)
			add(r, "Redis: every 201 took a unit, and at most the cut-off requests more",
				sold >= int64(r.good()) && sold <= int64(r.good()+satConns), "%d taken for %d answers 201 (at most %d requests in flight when wrk stopped)",
				sold, r.good(), satConns)
			continue
		}
		st := stacks[r.kind]
		cs, _ := st.s.verifyWith(ctx, r.disc, r.initial, r.created, satConns, "requests at most in flight when wrk stopped")
		for _, c := range cs {
			add(r, c.what, c.ok, "%s", c.got)
		}
	}
	return checks, nil
}

// fmtStatuses lists status counts as "201: 123, 409: 4".
func fmtStatuses(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d: %d", c, m[c])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// topCommands is the commandstats delta of a run per wanted answer, the n commands with the most time first:
// "evalsha 1.00 / 12.3 µs".
func (r *satRun) topCommands(n int) string {
	type delta struct {
		name        string
		calls, usec int64
	}
	var ds []delta
	for name, a := range r.after.cmds {
		b := r.before.cmds[name]
		if d := (delta{name, a.calls - b.calls, a.usec - b.usec}); d.calls > 0 {
			ds = append(ds, d)
		}
	}
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].usec != ds[j].usec {
			return ds[i].usec > ds[j].usec
		}
		return ds[i].name < ds[j].name
	})
	g := float64(max(1, r.good()))
	var parts []string
	for _, d := range ds[:min(n, len(ds))] {
		parts = append(parts, fmt.Sprintf("%s %.3f / %.2f µs", d.name, float64(d.calls)/g, float64(d.usec)/g))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, "; ")
}

// satTarget is one of the targets, a ratio computed per round, or a figure shown beside them.
type satTarget struct {
	name   string
	target string
	value  func(byKind map[string]*satRun) (float64, bool) // false: a run is missing
	pass   func(v float64) bool                            // nil: a reference, no target
	format string
}

// satTargets are the targets; they must not change.
var satTargets = []satTarget{
	{"writer / ceiling (orders/s)", ">= 0.70", ratio(satWriter, satCeiling), func(v float64) bool { return v >= 0.70 }, "%.2f"},
	{"no-writer / ceiling (orders/s)", ">= 0.90", ratio(satNoWriter, satCeiling), func(v float64) bool { return v >= 0.90 }, "%.2f"},
	{"writer / postgres (orders/s)", ">= 3", ratio(satWriter, satPostgres), func(v float64) bool { return v >= 3 }, "%.2f"},
	{"sold-out refusals/s / writer orders/s", ">= 3", ratio(satSoldOut, satWriter), func(v float64) bool { return v >= 3 }, "%.2f"},
	{"sold-out p99 (ms), server sharing wrk's core", "<= 5", p99(satSoldOut), func(v float64) bool { return v <= 5 }, "%.2f"},
	{"sold-out-core0 refusals/s / writer orders/s", ">= 3", ratio(satSoldOutAlone, satWriter), func(v float64) bool { return v >= 3 }, "%.2f"},
	{"sold-out-core0 p99 (ms), server on core 0, wrk on core 1", "<= 5", p99(satSoldOutAlone), func(v float64) bool { return v <= 5 }, "%.2f"},
	{"healthz p99 (ms), the edge alone, sharing wrk's core as sold-out does", "(reference)", p99(satEdge), nil, "%.2f"},
	{"Redis CPU per order, writer (µs)", "<= 30", func(m map[string]*satRun) (float64, bool) {
		r := m[satWriter]
		if r == nil {
			return 0, false
		}
		return r.redisUS(), true
	}, func(v float64) bool { return v <= 30 }, "%.1f"},
}

// p99 is the value function of a target on wrk's p99 of one configuration, in ms.
func p99(kind string) func(map[string]*satRun) (float64, bool) {
	return func(m map[string]*satRun) (float64, bool) {
		r := m[kind]
		if r == nil {
			return 0, false
		}
		return float64(r.w.p99) / float64(time.Millisecond), true
	}
}

// ratio is the value function of a target a/b on the wanted answers per second of two configurations.
func ratio(a, b string) func(map[string]*satRun) (float64, bool) {
	return func(m map[string]*satRun) (float64, bool) {
		ra, rb := m[a], m[b]
		if ra == nil || rb == nil || rb.goodRate() == 0 {
			return 0, false
		}
		return ra.goodRate() / rb.goodRate(), true
	}
}

// passFail is "PASS" or "FAIL".
func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// writeSaturation writes <out>/saturation.md; it reports whether every check held.
func writeSaturation(c config, m machine, runs []*satRun, checks []check) (bool, error) {
	ok := true
	for _, ch := range checks {
		ok = ok && ch.ok
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# saturation: closed-loop throughput with wrk, seven configurations, two rounds\n\n")
	fmt.Fprintf(&b, "Measured %s by `%s` (bench/cmd/launchbench).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), commandLine())
	fmt.Fprintf(&b, "Each server is loaded by wrk in a closed loop: %d thread, %d connections, each connection sending its next "+
		"request when the last is answered, for %d s. wrk runs pinned to core %s (`taskset -c %s`); the servers, Redis and "+
		"Postgres are not pinned and share both cores with it (but sold-out-core0's server, which runs on core %s alone). "+
		"Round 1 runs the seven configurations in the order %s, round 2 in "+
		"the reverse order, each on the same stack in both rounds (a fresh disc per run), so the spread between the rounds shows "+
		"the machine's noise.\n\n", satThreads, satConns, c.satSeconds, satLoaderCPU, satLoaderCPU, satServerCPU, strings.Join(satKinds, ", "))
	b.WriteString("| configuration | server | load |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| writer | `recordshop serve`, RS_RESERVE_MODE=redis, writer in process, RS_MAX_BACKLOG unset (serve's default bound) | "+
		"POST /v1/orders, quantity 1, no Idempotency-Key, of a fresh disc per run with %s units (the most POST /v1/discs accepts) "+
		"and no per-customer limit; customer ids %s in turn (signed up before serve started, so its customer cache is warm) |\n",
		thousands(satStock), customerRange(runs, satWriter, satNoWriter, satPostgres, satSoldOut))
	b.WriteString("| no-writer | `recordshop serve --no-writer`, RS_RESERVE_MODE=redis, RS_MAX_BACKLOG=0 | the same |\n")
	fmt.Fprintf(&b, "| ceiling | `bench-ceiling` (bench/cmd/ceiling: the reservation script frozen at commit 12f9cca, one EVALSHA per "+
		"order behind a bare Hertz handler) | the same, on its disc 1 (100,000,000 units, bench-ceiling's default), customer ids %s |\n",
		customerRange(runs, satCeiling))
	b.WriteString("| postgres | `recordshop serve`, RS_RESERVE_MODE=postgres | the same |\n")
	b.WriteString("| sold-out | `recordshop serve`, RS_RESERVE_MODE=redis, writer in process | the same, of a disc with 1 unit bought once before the load: every answer is 409 sold-out (RS_SOLD_OUT_HOLD default, 100 ms) |\n")
	fmt.Fprintf(&b, "| sold-out-core0 | the same as sold-out, its own stack; serve runs on core %s from its start "+
		"(`taskset -c %s`, so the Go runtime sizes itself to that one core), so that it does not share wrk's core %s; Redis and "+
		"Postgres stay unpinned | the same as sold-out |\n",
		satServerCPU, satServerCPU, satLoaderCPU)
	b.WriteString("| healthz | `recordshop serve`, RS_RESERVE_MODE=redis, writer in process, unpinned as sold-out | GET /healthz, no headers: " +
		"the edge answering and doing nothing, for what sharing the cores with wrk does to any answer's latency |\n\n")
	if ok {
		b.WriteString("Every invariant held (see Invariants).\n\n")
	} else {
		b.WriteString("**BROKEN: an invariant does not hold (see Invariants); the bench fails.**\n\n")
	}

	// Targets.
	rounds := map[int]map[string]*satRun{}
	var roundNums []int
	for _, r := range runs {
		if rounds[r.round] == nil {
			rounds[r.round] = map[string]*satRun{}
			roundNums = append(roundNums, r.round)
		}
		rounds[r.round][r.kind] = r
	}
	b.WriteString("## Targets\n\n| ratio | target |")
	for _, n := range roundNums {
		fmt.Fprintf(&b, " round %d |", n)
	}
	b.WriteString(" spread (min–max) | both rounds |\n|---|---|")
	for range roundNums {
		b.WriteString("---|")
	}
	b.WriteString("---|---|\n")
	for _, t := range satTargets {
		fmt.Fprintf(&b, "| %s | %s |", t.name, t.target)
		var vals []float64
		passes := 0
		for _, n := range roundNums {
			v, have := t.value(rounds[n])
			if !have {
				b.WriteString(" – |")
				continue
			}
			vals = append(vals, v)
			if t.pass == nil {
				fmt.Fprintf(&b, " "+t.format+" |", v)
				continue
			}
			if t.pass(v) {
				passes++
			}
			fmt.Fprintf(&b, " "+t.format+" %s |", v, passFail(t.pass(v)))
		}
		switch {
		case len(vals) == 0:
			b.WriteString(" – | – |\n")
		case t.pass == nil:
			fmt.Fprintf(&b, " "+t.format+"–"+t.format+" | – |\n", slices.Min(vals), slices.Max(vals))
		default:
			fmt.Fprintf(&b, " "+t.format+"–"+t.format+" | %s (%d of %d rounds pass) |\n", slices.Min(vals), slices.Max(vals),
				passFail(passes == len(vals)), passes, len(vals))
		}
	}
	b.WriteString("\nThe order ratios divide the answers per second with the wanted status (201; 409 for sold-out) of the two " +
		"configurations in the same round.\n\n")

	// Runs.
	b.WriteString("## Runs\n\n| round | config | req/s | p50 | p99 | non-2xx | socket errors | wrk CPU (of one core) | drain after wrk | Redis µs/answer | API µs/answer | Postgres µs/answer | rest of machine (cores) | steal (cores) | top Redis commands per answer (calls / µs) |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		pg := "–"
		if v := r.pgUS(); v >= 0 {
			pg = fmt.Sprintf("%.1f", v)
		}
		drain := "–"
		if stHasWriter(r.kind) {
			drain = fmtD(r.drain)
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %s | %d | %d | %.2f | %s | %.1f | %.1f | %s | %.2f | %.2f | %s |\n", r.round, r.kind,
			r.w.rps, fmtD(r.w.p50), fmtD(r.w.p99), r.w.non2xx, r.w.socketErrs, r.loader.Seconds()/r.wall.Seconds(), drain,
			r.redisUS(), r.apiUS(), pg, r.otherCores(), r.stealCores(), r.topCommands(5))
	}
	b.WriteString("\nAn answer is an order answered 201, or for sold-out a refusal answered 409. Requests: ")
	for i, r := range runs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "r%d %s %d (%s)", r.round, r.kind, r.w.requests, fmtStatuses(r.w.statuses))
	}
	b.WriteString(".\n\n")
	b.WriteString("All the Redis commands of each run's measuring window (INFO commandstats deltas, calls / µs per answer, most " +
		"time first):\n\n| round | config | window | commands |\n|---|---|---|---|\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", r.round, r.kind, fmtD(r.window), r.topCommands(1000))
	}
	b.WriteString("\n")

	b.WriteString("The writer in process at the top rate, over the same windows (commits and the orders they carried " +
		"from recordshop_writer_batch_size on the server's /metrics; stream reads from commandstats, XREADGROUP of " +
		"every partition, the empty ones included):\n\n| round | config | orders answered 201/s | commits/s | orders per commit | stream reads/s |\n|---|---|---|---|---|---|\n")
	for _, r := range runs {
		if cps, opc, rps, ok := r.writerRates(); ok && r.kind == satWriter {
			fmt.Fprintf(&b, "| %d | %s | %.0f | %.1f | %.0f | %.1f |\n", r.round, r.kind, r.goodRate(), cps, opc, rps)
		}
	}
	b.WriteString("\n")

	// Invariants.
	status := "all held"
	if !ok {
		status = "**BROKEN**"
	}
	fmt.Fprintf(&b, "## Invariants (%s)\n\n| check | held | observed |\n|---|---|---|\n", status)
	for _, ch := range checks {
		held := "yes"
		if !ch.ok {
			held = "**NO**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", ch.what, held, strings.ReplaceAll(ch.got, "|", "\\|"))
	}

	// How measured.
	fmt.Fprintf(&b, "\n## How measured\n\n"+
		"- **req/s, p50, p99, non-2xx, socket errors**: wrk's report (`Requests/sec`, the 50%% and 99%% lines of `--latency`, "+
		"`Non-2xx or 3xx responses`, `Socket errors`). The wrk script also counts every answer by status in `response()` and "+
		"keeps the order id of each 201; `done()` prints the counts and writes the ids for the checks.\n"+
		"- **wrk CPU**: wrk's user + system time from getrusage of the child process (Go's ProcessState.UserTime + SystemTime; "+
		"taskset execs wrk, so the child is wrk) divided by wrk's wall time.\n"+
		"- **Redis µs/answer**: the delta of INFO cpu `used_cpu_sys + used_cpu_user` between a sample just before wrk starts and "+
		"a sample %s after the end of the run, divided by the answers with the wanted status. For writer and sold-out, whose serve "+
		"runs the writer in process, the end of the run is when the backlog (the pending hashes of every partition) is back to 0 "+
		"after wrk stops (\"drain after wrk\"), so the writer's reads, acknowledgements and deletions of these orders are included; "+
		"the bench's own polling of the backlog (HLEN) and its INFO calls are in the window too. For no-writer nothing is written "+
		"to Postgres during the window: a `recordshop writer` drains its stack after both rounds, for the checks.\n"+
		"- **top Redis commands**: INFO commandstats deltas over the same window, the five with the most time, as calls and µs per "+
		"answer. A command a script runs is counted under its own name as well, and its time is inside the script's.\n"+
		"- **API µs/answer**: utime + stime (fields 14 and 15 of /proc/<pid>/stat, in clock ticks, CLK_TCK %.0f) of the serve or "+
		"ceiling process over the same window, per answer. serve's in-process writer is part of it.\n"+
		"- **Postgres µs/answer**: utime + stime of the stack's postmaster (with cutime + cstime of the children it reaped) and of "+
		"its live children, over the same window, per answer (the ceiling has no Postgres).\n"+
		"- **rest of machine**: the machine's busy time over the window (/proc/stat: user, nice, system, irq, softirq of all "+
		"cores) minus wrk, the stack's Redis, server and Postgres, in cores: the other stacks, the bench itself and any other "+
		"program. **steal**: /proc/stat's steal time over the window, in cores (time the hypervisor gave to other guests).\n"+
		"- **Settling**: before each run the stack's backlog is waited to 0 (at most %s) and then %s pass; after each run the "+
		"stack's Postgres gets a VACUUM (ANALYZE) and a CHECKPOINT, so that a later run neither meets the autovacuum this one's "+
		"rows call for nor writes out its pages. The seven stacks stay up for both "+
		"rounds; an idle stack's background work falls on whichever run is going.\n"+
		"- **Checks**: after both rounds, every shop disc goes through launchbench's verify (writer drained, sold + left = initial "+
		"in Postgres and in Redis, every 201 order in Postgres exactly once, no more orders in Postgres than 201s plus the %d "+
		"requests wrk can have in flight when it stops, `recordshop reconcile` exits 0). For the ceiling, the units its disc lost "+
		"equal the entries its stream gained, and are between the 201 count and the 201 count plus %d.\n\n",
		satAfter, clkTck(), satDrainMax, satSettle, satConns, satConns)

	b.WriteString("## Commands\n\n```\n")
	fmt.Fprintf(&b, "%s\n", commandLine())
	fmt.Fprintf(&b, "# per run: taskset -c %s wrk -t%d -c%d -d%ds --latency -s <script.lua> http://127.0.0.1:<port>/v1/orders\n",
		satLoaderCPU, satThreads, satConns, c.satSeconds)
	b.WriteString("# writer:    RS_RESERVE_MODE=redis bin/recordshop serve\n")
	b.WriteString("# no-writer: RS_RESERVE_MODE=redis RS_MAX_BACKLOG=0 bin/recordshop serve --no-writer  (then bin/recordshop writer, for the checks)\n")
	b.WriteString("# ceiling:   bin/bench-ceiling -addr 127.0.0.1:<port> -redis-url <devstack Redis> -disc 1\n")
	b.WriteString("# postgres:  RS_RESERVE_MODE=postgres bin/recordshop serve\n")
	b.WriteString("# sold-out:  RS_RESERVE_MODE=redis bin/recordshop serve\n")
	fmt.Fprintf(&b, "# sold-out-core0: RS_RESERVE_MODE=redis taskset -c %s bin/recordshop serve\n", satServerCPU)
	b.WriteString("# healthz:   RS_RESERVE_MODE=redis bin/recordshop serve  (wrk's script asks for GET /healthz)\n")
	b.WriteString("# each stack: devstack Postgres (fsync on) and Redis (appendonly yes, appendfsync everysec); RS_PARTITIONS=16\n```\n\n")

	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	for _, l := range m.lines {
		if strings.HasPrefix(l, "| load generator |") {
			l = fmt.Sprintf("| load generator | %s, pinned to core %s (taskset); servers and stores not pinned, but sold-out-core0's server on core %s |", strings.TrimSpace(cmdOut("sh", "-c", "wrk --version 2>&1 | head -1")), satLoaderCPU, satServerCPU)
		}
		b.WriteString(l + "\n")
	}
	path := filepath.Join(c.out, "saturation.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return false, fmt.Errorf("saturation: write %s: %w", path, err)
	}
	logf("saturation: wrote %s (invariants %s)", path, status)
	return ok, nil
}

// thousands formats n >= 0 with a comma between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// customerRange is the customer ids the load picked from in the runs of the given configurations, "from..to"
// (each distinct range once).
func customerRange(runs []*satRun, kinds ...string) string {
	var out []string
	for _, r := range runs {
		if !slices.Contains(kinds, r.kind) {
			continue
		}
		if rg := fmt.Sprintf("%d..%d", r.from, r.to); !slices.Contains(out, rg) {
			out = append(out, rg)
		}
	}
	if len(out) == 0 {
		return "of the stack"
	}
	return strings.Join(out, ", ")
}

// stHasWriter reports whether a configuration's serve runs the writer in process.
func stHasWriter(kind string) bool { return kind == satWriter || isSoldOut(kind) }

// commandLine is how this bench was started, as `go run` would be typed.
func commandLine() string {
	return "go run ./bench/cmd/launchbench " + strings.Join(os.Args[1:], " ")
}
