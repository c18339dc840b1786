package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The timed operations, in the order of the report.
const (
	opReconcile = "reconcile"
	opDisc      = "reconcile-disc"
	opColdStart = "cold-start"
	opRebuild   = "rebuild"
	opMigrate   = "migrate"
)

var opTitles = map[string]string{
	opReconcile: "`recordshop reconcile` (whole shop)",
	opDisc:      "`recordshop reconcile --disc 1` (the hot disc)",
	opColdStart: "cold start: `recordshop serve` on an empty Redis until GET /readyz is 200",
	opRebuild:   "`recordshop reconcile --rebuild` after FLUSHALL",
	opMigrate:   "`recordshop migrate` on the filled schema v2",
}

var opOrder = []string{opReconcile, opDisc, opColdStart, opRebuild, opMigrate}

// op is the runs of one timed operation.
type op struct {
	samples []time.Duration
	runs    []string // per run: exit code, CPU and memory of the child
	failed  []int    // the exit codes of the runs that did not exit 0
	top     []stmt   // the statements of the last run that took the most time in Postgres
	pgTotal float64  // ms of statement execution in Postgres in the last run
	pgCalls int64
	// timedOut are the statements Postgres cancelled on statement_timeout during the runs: pg_stat_statements
	// records only statements that finish, so these come from the server log.
	timedOut []string
}

func (o *op) add(d time.Duration, note string) {
	o.samples = append(o.samples, d)
	o.runs = append(o.runs, note)
}

// addRun records a child run: its time, its exit code and the statements the timeout cancelled in it.
func (o *op) addRun(cr childRun, note string) {
	o.add(cr.wall, note)
	if cr.exit != 0 {
		o.failed = append(o.failed, cr.exit)
	}
	for _, q := range cr.timedOut {
		if !slices.Contains(o.timedOut, q) {
			o.timedOut = append(o.timedOut, q)
		}
	}
}

// sizeResult is everything measured at one size.
type sizeResult struct {
	size     size
	span     span
	fill     *fillResult
	ops      map[string]*op
	lists    []*listResult
	sale     *saleResult
	coldMem  memResult // Redis right after the cold start (and the lists), before the sale
	mem      memResult // after the sale
	migrated []string  // what `recordshop migrate` applied
	dbBytes  int64     // after migrate
	checks   []check
	notes    []string
	plans    map[string]string // list name -> the plan auto_explain logged
}

func (r *sizeResult) check(what string, ok bool, format string, args ...any) {
	got := strings.Join(strings.Fields(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " / ")), " ")
	r.checks = append(r.checks, check{what: what, ok: ok, got: got})
	if !ok {
		logf("  CHECK FAILED: %s: %s", what, fmt.Sprintf(format, args...))
	}
}

// measureSize fills a fresh stack with the history of sz and measures every operation on it.
func measureSize(ctx context.Context, c config, sz size) (*sizeResult, error) {
	r := &sizeResult{size: sz, ops: map[string]*op{}, plans: map[string]string{}}
	for _, k := range opOrder {
		r.ops[k] = &op{}
	}
	logf("size %s: %d orders, %d customers, %d discs: starting a stack", sz.name, sz.orders, sz.customers, sz.discs)
	s, err := startStack(ctx, c)
	if err != nil {
		return r, err
	}
	defer s.stop()
	r.span = newSpan(sz, time.Now())

	logf("size %s: fill", sz.name)
	if r.fill, err = fill(ctx, s, sz, r.span); err != nil {
		return r, fmt.Errorf("fill: %w", err)
	}
	r.checks = append(r.checks, r.fill.checks...)
	logf("size %s: filled in %s (checks %s), database %s", sz.name, r.fill.total.Round(time.Second), r.fill.verify.Round(time.Second), gib(r.fill.dbBytes))

	if err := measureMigrate(ctx, c, s, r); err != nil {
		return r, fmt.Errorf("migrate: %w", err)
	}
	// Migrations that rewrite or add tables leave work for autovacuum, which would run during the
	// measurements; an existing shop would have vacuumed long before its next launch.
	if err := vacuumAnalyze(ctx, s); err != nil {
		return r, err
	}
	_ = s.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&r.dbBytes)

	if err := measureColdStart(ctx, c, s, r); err != nil {
		return r, fmt.Errorf("cold start: %w", err)
	}
	if err := measureLists(ctx, c, s, r); err != nil {
		return r, fmt.Errorf("lists: %w", err)
	}
	if r.coldMem, err = measureMemory(ctx, s); err != nil {
		return r, fmt.Errorf("redis memory after the cold start: %w", err)
	}
	if err := measureSale(ctx, c, s, r); err != nil {
		return r, fmt.Errorf("sale: %w", err)
	}
	if r.mem, err = measureMemory(ctx, s); err != nil {
		return r, fmt.Errorf("redis memory after the sale: %w", err)
	}
	s.stopServe()

	if err := measureRebuild(ctx, c, s, r); err != nil {
		return r, fmt.Errorf("rebuild: %w", err)
	}
	if err := measureReconcile(ctx, c, s, r, opReconcile, "reconcile"); err != nil {
		return r, fmt.Errorf("reconcile: %w", err)
	}
	if err := measureReconcile(ctx, c, s, r, opDisc, "reconcile", "--disc", strconv.Itoa(hotDisc)); err != nil {
		return r, fmt.Errorf("reconcile --disc: %w", err)
	}
	logf("size %s: done", sz.name)
	if c.hold > 0 {
		logf("size %s: holding the stack for %s: RS_PG_URL=%s RS_REDIS_URL=%s", sz.name, c.hold, s.dev.PGURL, s.dev.RedisURL)
		select {
		case <-ctx.Done():
		case <-time.After(c.hold):
		}
	}
	return r, nil
}

// runNote is the line a child run leaves in the report.
func runNote(cr childRun) string {
	return fmt.Sprintf("exit %d, CPU %s, peak RSS %d MiB", cr.exit, fmtD(cr.cpu), cr.maxRSS/1024)
}

// measureMigrate times `recordshop migrate` on the database at schema v2, -repeat times, each on a fresh copy
// of it (CREATE DATABASE ... TEMPLATE, a file copy, not timed); the copy of the last run then replaces the
// shop's database. When a run fails on the shop's statement_timeout, that is recorded as a broken check and
// the runs are made again with the timeout lifted in RS_PG_URL (what an operator would do), so that the other
// operations can still be measured on a migrated database.
func measureMigrate(ctx context.Context, c config, s *stack, r *sizeResult) error {
	const v2, try = "rs_history_v2", "rs_history_try"
	o := r.ops[opMigrate]
	s.pool.Close() // a template, and a database to drop, must have no connections
	start := time.Now()
	if err := s.admin(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE recordshop STRATEGY FILE_COPY`, v2)); err != nil {
		return err
	}
	logf("  copied the schema v2 database in %s", time.Since(start).Round(time.Millisecond))
	lifted := ""
	for i := 0; i < c.migrateRuns; i++ {
		if err := s.admin(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY`, try, v2)); err != nil {
			return err
		}
		dbURL := s.dbURL(try)
		if lifted != "" {
			dbURL = withParam(dbURL, "statement_timeout", lifted)
		}
		_ = s.statsReset(ctx)
		cr, err := s.run(ctx, append(slices.Clone(s.env), "RS_PG_URL="+dbURL), "migrate")
		if err != nil {
			return err
		}
		if cr.exit != 0 && lifted == "" && strings.Contains(cr.out, "57014") {
			r.check("migrate succeeds under the shop's statement_timeout", false, "exit %d after %s: %s", cr.exit, fmtD(cr.wall), lastLines(cr.out, 1))
			r.notes = append(r.notes, fmt.Sprintf("`recordshop migrate` with the shop's default statement_timeout (%s) failed after %s: %q. "+
				"The timed runs add `statement_timeout=1h` to RS_PG_URL.", "10 s", fmtD(cr.wall), lastLines(cr.out, 1)))
			lifted = "1h"
			if err := s.admin(ctx, `DROP DATABASE `+try); err != nil {
				return err
			}
			i--
			continue
		}
		o.top, o.pgTotal, o.pgCalls, _ = s.topStatements(ctx, try)
		note := runNote(cr)
		if lifted != "" {
			note += ", statement_timeout " + lifted
		}
		o.addRun(cr, note)
		r.check(fmt.Sprintf("migrate run %d exits 0", i+1), cr.exit == 0, "exit %d: %s", cr.exit, lastLines(cr.out, 1))
		logf("  migrate %d: %s (exit %d)", i+1, cr.wall.Round(time.Millisecond), cr.exit)
		if cr.exit != 0 {
			return fmt.Errorf("recordshop migrate: exit %d: %s", cr.exit, lastLines(cr.out, 1))
		}
		if i < c.migrateRuns-1 {
			if err := s.admin(ctx, `DROP DATABASE `+try); err != nil {
				return err
			}
			continue
		}
		r.migrated = nil
		for _, line := range strings.Split(cr.out, "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "migrate: applied "); ok {
				r.migrated = append(r.migrated, name)
			}
		}
	}
	for _, q := range []string{`DROP DATABASE recordshop WITH (FORCE)`, `ALTER DATABASE ` + try + ` RENAME TO recordshop`, `DROP DATABASE ` + v2} {
		if err := s.admin(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	logf("  migrate applied %v", r.migrated)
	return s.openPool(ctx)
}

// withParam adds a query parameter to a URL.
func withParam(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// measureColdStart starts serve on an empty Redis -repeat times; the last one keeps running for the lists.
func measureColdStart(ctx context.Context, c config, s *stack, r *sizeResult) error {
	o := r.ops[opColdStart]
	for i := 0; i < c.repeat; i++ {
		s.stopServe()
		if err := s.flushRedis(ctx); err != nil {
			return err
		}
		_ = s.statsReset(ctx)
		d, err := s.startServe(ctx)
		if err != nil {
			return err
		}
		cpu, rss := s.serveUsage()
		o.top, o.pgTotal, o.pgCalls, _ = s.topStatements(ctx, "recordshop")
		o.add(d, fmt.Sprintf("serve CPU until ready %s, peak RSS %d MiB", fmtD(cpu), rss/1024))
		logf("  cold start %d: ready in %s", i+1, d.Round(time.Millisecond))
	}
	// What an operator sees right after such a start, before any order: the design says a Redis that lost
	// its data is reloaded by --rebuild, which also puts the streams' positions past Postgres' orders. One
	// disc is enough to see it, and cheap at every size.
	cr, err := s.run(ctx, nil, "reconcile", "--disc", strconv.Itoa(hotDisc))
	if err != nil {
		return err
	}
	note := fmt.Sprintf("`recordshop reconcile --disc %d` right after the last cold start (serve up, no order since): exit %d in %s: %q.",
		hotDisc, cr.exit, fmtD(cr.wall), lastLines(cr.out, 1))
	if cr.exit != 0 {
		var rows []string
		for _, l := range strings.Split(cr.head, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "{") { // a log line
				continue
			}
			if len(l) > 160 {
				l = l[:160] + " …"
			}
			if rows = append(rows, l); len(rows) == 3 {
				break
			}
		}
		note += " Its first lines:\n\n  ```\n  " + strings.Join(rows, "\n  ") + "\n  ```"
	}
	r.notes = append(r.notes, note)
	return nil
}

// listResult is one order list's latencies over HTTP.
type listResult struct {
	name, path string
	lat        []time.Duration
	items      int     // on the first page
	inWindow   int64   // orders the filter matches
	pgMeanMS   float64 // Postgres execution time of the list query, mean per request
	stopped    string
}

// measureLists times the two order lists with one client, one request after another.
func measureLists(ctx context.Context, c config, s *stack, r *sizeResult) error {
	sp := r.span
	from := sp.start.Add(sp.end.Sub(sp.start) / 4).Truncate(time.Second)
	to := sp.start.Add(sp.end.Sub(sp.start) * 3 / 4).Truncate(time.Second)
	q := url.Values{"customer_id": {strconv.Itoa(heavyBuyer)}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	lists := []*listResult{
		{name: fmt.Sprintf("GET /v1/orders?customer_id=%d&from&to (heavy buyer, half of the history)", heavyBuyer), path: "/v1/orders?" + q.Encode()},
		{name: fmt.Sprintf("GET /v1/orders?disc_id=%d (hot disc)", hotDisc), path: "/v1/orders?disc_id=" + strconv.Itoa(hotDisc)},
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE customer_id = $1 AND reserved_at >= $2 AND reserved_at < $3`,
		heavyBuyer, from, to).Scan(&lists[0].inWindow); err != nil {
		return err
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE disc_id = $1`, hotDisc).Scan(&lists[1].inWindow); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Minute}
	var err error
	get := func(path string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+storefrontToken)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return 0, err
		}
		return len(page.Items), nil
	}
	for _, l := range lists {
		for i := 0; i < 10; i++ { // warm the connection, the plan cache and the pages
			if l.items, err = get(l.path); err != nil {
				return err
			}
		}
		_ = s.statsReset(ctx)
		deadline := time.Now().Add(c.opTimeout)
		for i := 0; i < c.listRequests; i++ {
			t := time.Now()
			if _, err := get(l.path); err != nil {
				return err
			}
			l.lat = append(l.lat, time.Since(t))
			if time.Now().After(deadline) {
				l.stopped = fmt.Sprintf("stopped after %d requests at -op-timeout", i+1)
				break
			}
		}
		if top, _, _, err := s.topStatements(ctx, "recordshop"); err == nil {
			for _, st := range top {
				if strings.Contains(st.query, "FROM orders") && st.calls >= int64(len(l.lat)) {
					l.pgMeanMS = st.totalMS / float64(st.calls)
					break
				}
			}
		}
		plan, err := s.explainNext(ctx, func() error { _, err := get(l.path); return err })
		if err != nil {
			plan = "(not captured: " + err.Error() + ")"
		}
		r.plans[l.name] = plan
		slices.Sort(l.lat)
		logf("  %s: p50 %s p99 %s over %d", l.name, fmtD(pct(l.lat, 0.50)), fmtD(pct(l.lat, 0.99)), len(l.lat))
	}
	client.CloseIdleConnections() // serve's graceful stop would otherwise wait for them
	r.lists = lists
	r.check("order lists answer 200 with a full first page", lists[0].items > 0 && lists[1].items > 0,
		"%d and %d orders on the first pages", lists[0].items, lists[1].items)
	return nil
}

// memResult is Redis' memory of the hot disc and of the whole shop.
type memResult struct {
	boughtKey           string
	boughtBytes, buyers int64
	boughtEncoding      string // "absent" when the bought hash does not exist
	discBytes           int64
	discFields          int64
	known               string // the disc hash's known flag: "0" when Redis holds only some buyers, "" absent
	usedMemory, keys    int64
}

// measureMemory reads the memory of the hot disc's keys and of the whole Redis. The bought hash may not exist:
// a cold start loads none of the past buyers of a disc with many of them, and a sale adds only its own.
func measureMemory(ctx context.Context, s *stack) (memResult, error) {
	m := memResult{boughtKey: s.keys.Bought(hotDisc), boughtEncoding: "absent"}
	disc := s.keys.Disc(hotDisc)
	n, err := s.rdb.Exists(ctx, m.boughtKey).Result()
	if err != nil {
		return m, fmt.Errorf("EXISTS %s: %w", m.boughtKey, err)
	}
	if n > 0 {
		if m.boughtBytes, err = memoryUsage(ctx, s, m.boughtKey); err != nil {
			return m, err
		}
		if m.buyers, err = s.rdb.HLen(ctx, m.boughtKey).Result(); err != nil {
			return m, fmt.Errorf("HLEN %s: %w", m.boughtKey, err)
		}
		if m.boughtEncoding, err = s.rdb.ObjectEncoding(ctx, m.boughtKey).Result(); err != nil {
			return m, fmt.Errorf("OBJECT ENCODING %s: %w", m.boughtKey, err)
		}
	}
	if m.discBytes, err = memoryUsage(ctx, s, disc); err != nil {
		return m, err
	}
	if m.discFields, err = s.rdb.HLen(ctx, disc).Result(); err != nil {
		return m, fmt.Errorf("HLEN %s: %w", disc, err)
	}
	if m.known, err = s.rdb.HGet(ctx, disc, "known").Result(); err != nil && !errors.Is(err, goredis.Nil) {
		return m, fmt.Errorf("HGET %s known: %w", disc, err)
	}
	if m.keys, err = s.rdb.DBSize(ctx).Result(); err != nil {
		return m, fmt.Errorf("DBSIZE: %w", err)
	}
	info, err := s.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return m, fmt.Errorf("INFO memory: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			m.usedMemory, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	logf("  redis: bought hash of disc %d: %d B for %d buyers (%s); disc hash %d B, known %q; used_memory %d B", hotDisc,
		m.boughtBytes, m.buyers, m.boughtEncoding, m.discBytes, m.known, m.usedMemory)
	return m, nil
}

// memoryUsage is MEMORY USAGE of a key that exists.
func memoryUsage(ctx context.Context, s *stack, key string) (int64, error) {
	n, err := s.rdb.Do(ctx, "MEMORY", "USAGE", key, "SAMPLES", "0").Int64()
	if err != nil {
		return 0, fmt.Errorf("MEMORY USAGE %s: %w", key, err)
	}
	return n, nil
}

// measureRebuild empties Redis and rebuilds it -repeat times; after each, a plain reconcile must be clean.
func measureRebuild(ctx context.Context, c config, s *stack, r *sizeResult) error {
	o := r.ops[opRebuild]
	for i := 0; i < c.repeat; i++ {
		if err := s.flushRedis(ctx); err != nil {
			return err
		}
		_ = s.statsReset(ctx)
		cr, err := s.run(ctx, nil, "reconcile", "--rebuild")
		if err != nil {
			return err
		}
		o.top, o.pgTotal, o.pgCalls, _ = s.topStatements(ctx, "recordshop")
		o.addRun(cr, runNote(cr))
		r.check(fmt.Sprintf("reconcile --rebuild %d exits 0", i+1), cr.exit == 0, "exit %d: %s", cr.exit, lastLines(cr.out, 1))
		after, err := s.run(ctx, nil, "reconcile")
		if err != nil {
			return err
		}
		r.check(fmt.Sprintf("reconcile after rebuild %d exits 0", i+1), after.exit == 0, "exit %d: %s", after.exit, lastLines(after.out, 1))
		logf("  rebuild %d: %s (exit %d), then reconcile exit %d", i+1, cr.wall.Round(time.Millisecond), cr.exit, after.exit)
	}
	return nil
}

// measureReconcile runs `recordshop args...` -repeat times; each must exit 0.
func measureReconcile(ctx context.Context, c config, s *stack, r *sizeResult, key string, args ...string) error {
	o := r.ops[key]
	for i := 0; i < c.repeat; i++ {
		_ = s.statsReset(ctx)
		cr, err := s.run(ctx, nil, args...)
		if err != nil {
			return err
		}
		o.top, o.pgTotal, o.pgCalls, _ = s.topStatements(ctx, "recordshop")
		o.addRun(cr, runNote(cr))
		r.check(fmt.Sprintf("%s run %d exits 0", strings.Join(args, " "), i+1), cr.exit == 0, "exit %d: %s", cr.exit, lastLines(cr.out, 1))
		logf("  %s %d: %s (exit %d)", strings.Join(args, " "), i+1, cr.wall.Round(time.Millisecond), cr.exit)
	}
	return nil
}

// pct is the q-quantile of sorted durations (nearest rank).
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtD(d time.Duration) string {
	switch {
	case d >= 100*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
}

// fileSize is the size of path, 0 when it cannot be read.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
