package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// metric is one row of the summary: a number per size (ok false when the size has none) and how to show it.
type metric struct {
	name string
	get  func(r *sizeResult) (v float64, shown string, ok bool)
}

func median(o *op) (time.Duration, bool) {
	if o == nil || len(o.samples) == 0 {
		return 0, false
	}
	s := slices.Clone(o.samples)
	slices.Sort(s)
	return s[len(s)/2], true
}

// opMetric is an operation's median. A run that failed makes the figure a time to failure: it is shown so, and
// given no growth factor.
func opMetric(key string) metric {
	return metric{name: opTitles[key] + ", median", get: func(r *sizeResult) (float64, string, bool) {
		o := r.ops[key]
		d, ok := median(o)
		if ok && len(o.failed) > 0 {
			return 0, fmt.Sprintf("%s, **%d of %d runs failed** (exit %d)", fmtD(d), len(o.failed), len(o.samples), o.failed[0]), true
		}
		return d.Seconds(), fmtD(d), ok
	}}
}

func listMetric(i int, q float64, label string) metric {
	return metric{get: func(r *sizeResult) (float64, string, bool) {
		if len(r.lists) <= i || len(r.lists[i].lat) == 0 {
			return 0, "", false
		}
		d := pct(r.lists[i].lat, q)
		return d.Seconds(), fmtD(d), true
	}, name: label}
}

// saleMetric is a percentile of a pass of the sale. Where the cold start left every buyer of the hot disc in
// Redis (known = 1, a disc with few past buyers), the first pass met no buyer Redis lacks, and says so.
func saleMetric(i int, q float64, label string) metric {
	return metric{name: label, get: func(r *sizeResult) (float64, string, bool) {
		if r.sale == nil || len(r.sale.passes) <= i || len(r.sale.passes[i].lat) == 0 {
			return 0, "", false
		}
		d := pct(r.sale.passes[i].lat, q)
		shown := fmtD(d)
		if i == 0 && r.sale.known != "0" {
			shown += " (Redis held every buyer)"
		}
		return d.Seconds(), shown, true
	}}
}

func bytesMetric(name string, f func(m memResult) (float64, bool)) metric {
	return metric{name: name, get: func(r *sizeResult) (float64, string, bool) {
		v, ok := f(r.mem)
		if !ok || r.mem.usedMemory == 0 {
			return 0, "", false
		}
		return v, showBytes(v), true
	}}
}

// showBytes shows a size of Redis memory.
func showBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 10<<10:
		return fmt.Sprintf("%.0f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

var metrics = []metric{
	{name: "orders / customers / discs", get: func(r *sizeResult) (float64, string, bool) {
		return float64(r.size.orders), fmt.Sprintf("%s / %s / %s", count(r.size.orders), count(r.size.customers), count(r.size.discs)), true
	}},
	{name: "fill (schema v2, rows, indexes, keys, VACUUM ANALYZE)", get: func(r *sizeResult) (float64, string, bool) {
		if r.fill == nil {
			return 0, "", false
		}
		return r.fill.total.Seconds(), fmtD(r.fill.total), true
	}},
	{name: "database size after migrate", get: func(r *sizeResult) (float64, string, bool) {
		return float64(r.dbBytes), gib(r.dbBytes), r.dbBytes > 0
	}},
	opMetric(opReconcile),
	opMetric(opDisc),
	opMetric(opColdStart),
	opMetric(opRebuild),
	listMetric(0, 0.50, "GET /v1/orders?customer_id=<heavy buyer>&from&to, p50"),
	listMetric(0, 0.99, "GET /v1/orders?customer_id=<heavy buyer>&from&to, p99"),
	listMetric(1, 0.50, "GET /v1/orders?disc_id=<hot disc>, p50"),
	listMetric(1, 0.99, "GET /v1/orders?disc_id=<hot disc>, p99"),
	saleMetric(0, 0.50, "POST /v1/orders on the hot disc, buyer Redis lacks (first order), p50"),
	saleMetric(0, 0.99, "POST /v1/orders on the hot disc, buyer Redis lacks (first order), p99"),
	saleMetric(1, 0.50, "POST /v1/orders on the hot disc, buyer Redis holds (second order), p50"),
	saleMetric(1, 0.99, "POST /v1/orders on the hot disc, buyer Redis holds (second order), p99"),
	{name: "Redis: bought hash of the hot disc after the cold start and the sale (MEMORY USAGE)", get: func(r *sizeResult) (float64, string, bool) {
		if r.mem.usedMemory == 0 {
			return 0, "", false
		}
		if r.mem.boughtEncoding == "absent" {
			return 0, "absent", true
		}
		return float64(r.mem.boughtBytes), showBytes(float64(r.mem.boughtBytes)), true
	}},
	{name: "Redis: buyers in it (HLEN)", get: func(r *sizeResult) (float64, string, bool) {
		return float64(r.mem.buyers), count(r.mem.buyers), r.mem.usedMemory > 0
	}},
	{name: "Redis: bytes per buyer", get: func(r *sizeResult) (float64, string, bool) {
		if r.mem.buyers == 0 {
			return 0, "", false
		}
		v := float64(r.mem.boughtBytes) / float64(r.mem.buyers)
		return v, fmt.Sprintf("%.1f B", v), true
	}},
	bytesMetric("Redis: disc hash of the hot disc after the cold start and the sale", func(m memResult) (float64, bool) { return float64(m.discBytes), true }),
	bytesMetric("Redis: used_memory after the cold start and the sale", func(m memResult) (float64, bool) { return float64(m.usedMemory), true }),
	opMetric(opMigrate),
}

func count(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

// writeReport writes <out>/history.md.
func writeReport(c config, m machine, started time.Time, results []*sizeResult) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	var names []string
	for _, r := range results {
		names = append(names, r.size.name)
	}
	w("# How recordshop's costs grow with history\n\n")
	w("Measured %s–%s by `%s` (bench/cmd/history), sizes %s.\n\n", started.UTC().Format("2006-01-02 15:04"),
		time.Now().UTC().Format("15:04 UTC"), c.command, strings.Join(names, ", "))
	w("The design promises that \"a launch's work is the same in the shop's first week and its tenth year\": reconcile, "+
		"start-up, rebuild, the order lists and an order of a past buyer should cost what the current sale costs, not what all past orders cost. "+
		"Each size is a fresh stack filled with five years of valid history (the ledger identity holding for every disc), "+
		"migrated by `recordshop migrate` from schema version 2, then measured with the built binary as a child process. "+
		"Times are wall times of the whole child process (start, connect, work, exit), medians of %d runs; lists are %d "+
		"sequential requests from one client; after the lists, a sale on the hot disc (%d past buyers order one unit each, twice, "+
		"from one client), then the Redis memory of the hot disc.\n\n", c.repeat, c.listRequests, saleBuyers)

	w("## Summary\n\n")
	header := "| | " + strings.Join(names, " | ") + " |"
	sep := "|---|" + strings.Repeat("---|", len(results))
	for i := 1; i < len(results); i++ {
		header += fmt.Sprintf(" growth %s/%s |", results[i].size.name, results[i-1].size.name)
		sep += "---|"
	}
	w("%s\n%s\n", header, sep)
	for _, mt := range metrics {
		row := "| " + mt.name + " |"
		vals := make([]float64, len(results))
		oks := make([]bool, len(results))
		for i, r := range results {
			v, shown, ok := mt.get(r)
			vals[i], oks[i] = v, ok
			if !ok {
				shown = "—"
			}
			row += " " + shown + " |"
		}
		for i := 1; i < len(results); i++ {
			if oks[i] && oks[i-1] && vals[i] > 0 && vals[i-1] > 0 {
				row += fmt.Sprintf(" **×%.1f** |", vals[i]/vals[i-1])
			} else {
				row += " — |"
			}
		}
		w("%s\n", row)
	}
	if len(results) > 1 {
		w("\nA cost that does not grow with history has a growth factor near ×1; one that grows with every past order has " +
			"the factor of the orders (×10 between these sizes).\n")
	}

	for _, r := range results {
		writeSize(&b, c, r)
	}

	w("\n## How the history is made\n\n")
	w("- **Fill, fast and valid.** `pg.MigrateTo(ctx, pool, 2)` creates schema version 2 (00001_init, 00002_orders_path); " +
		"the harness reads the indexes, keys and foreign keys of customers, discs, orders and stock_events from the catalog, " +
		"drops them, writes the rows into bare heaps and builds them again from their own definitions " +
		"(`pg_get_indexdef`, `pg_get_constraintdef`), two at a time; Postgres validates every foreign key as it is added " +
		"back. Orders: `INSERT ... SELECT FROM generate_series`, a million per statement, in time order on one connection " +
		"(the heap in reserved_at order, as a shop writes it). Customers beside them with COPY from Go, each validated by " +
		"biz/model as a sign-up is (CPF with check digits from `model.CPFFromSeed`, email, phone, birth date); discs by " +
		"COPY, each validated as a POST /v1/discs body, with the stock the orders imply. Then VACUUM (ANALYZE) and a " +
		"CHECKPOINT, so that autovacuum does not visit the new tables during the measurements.\n")
	w("- **What is in it.** Five years of orders ending four days before the run, one every (5 years / orders); disc %d is the "+
		"hot disc (every tenth order, a limit of %d units per customer, so that Redis counts its buyers' units; its j-th order "+
		"goes to customer 2 + (j × 1000003) mod (customers − 1), so no buyer has more than two orders of it), customer %d the "+
		"heavy buyer (every hundredth order); other customers and discs are picked by `hashint8extended` and have no limit. 12.5%% of the orders are of two units, 5%% carry an Idempotency-Key, 2%% were cancelled 1–72 h "+
		"later, each with its `cancel` stock event (versions 2, 3, ... per disc, in the order of the cancels) and its units "+
		"back in stock. Every disc has a `create` event (version 1) of every unit it ever sold plus what it has left "+
		"(5–54, the hot disc 500); stock = sum(delta) − sum(quantity) over all orders; stock_version = its last event. "+
		"Every event is applied (applied_at set): the history is old. Order ids are UUIDv7 of reserved_at; "+
		"stream_partition = disc_id mod 16, stream_id = `<reserved_at ms>-0`, rising in each partition. 0.5%% of the "+
		"customers are deactivated. The partition count is recorded by `recordshop serve` itself on its first start. "+
		"The checks of each size prove these properties over every row.\n", hotDisc, hotLimit, heavyBuyer)
	w("- **Non-durable Postgres.** The devstack runs Postgres with fsync, synchronous_commit and full_page_writes off " +
		"(devstack.Options{Durable: false}) for the fill's speed; the operations measured here read far more than they " +
		"write, so durability costs little in them, but `migrate` (a backfill writes) would be slower on a durable server. " +
		"shared_buffers is Postgres' default 128 MB; the rest of each database sits in the OS page cache. " +
		"pg_stat_statements and auto_explain are loaded (auto_explain logs only while one list request of each kind runs).\n")
	w("- **migrate.** Each run starts from the same schema v2 database, on a fresh copy of it made with " +
		"`CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY` (not timed); the copy of the last run becomes the shop's " +
		"database. After it, VACUUM (ANALYZE) again (not timed). A run that fails on the shop's statement_timeout is " +
		"reported, and the timed runs are then made with `statement_timeout=1h` in RS_PG_URL.\n")
	w("- **Cold start.** FLUSHALL, then `recordshop serve` until GET /readyz answers 200 (serve listens first and prepares " +
		"the stores before it answers: partitions, every disc on sale loaded into Redis with its units per customer, the " +
		"outbox, the inactive customers, the customer cache). A disc with a limit and more than 50,000 past buyers (the hot " +
		"disc from size S on) is loaded without them (known = 0 in its disc hash): Redis gets only the buyers of pending orders, " +
		"and a buyer's first order reads their units from Postgres once.\n")
	w("- **Rebuild.** FLUSHALL with serve stopped, then `recordshop reconcile --rebuild`; after each, a plain reconcile " +
		"must exit 0. The reconcile runs follow, serve stopped, on the rebuilt Redis.\n")
	w("- **Lists.** The first page (the default 20, newest first) with a storefront token, after 10 warm-up requests. " +
		"The heavy buyer's window is the middle half of the five years. \"Postgres per request\" is the mean execution time " +
		"of the list's statement in pg_stat_statements over the series.\n")
	w("- **Sale.** With serve still up after the last cold start and the lists: the hot disc restocked by %d units through "+
		"the admin API (it has 500 left, fewer than the first pass asks for) and, once Redis has the change, customers %d..%d "+
		"(past buyers of the hot disc, each of one or two units) POST /v1/orders for one unit of it, one after another from one "+
		"client (pass 1, first orders: where the cold start left them out of Redis, each reads the buyer's units from "+
		"Postgres), then the same again (pass 2: Redis holds them). Latencies cover every request, whatever its answer; the "+
		"answers are the status and, for a 4xx, the problem type. \"Postgres per request\" counts, in pg_stat_statements over the "+
		"pass, the reads of a buyer's units (disc_buyers) and every statement of the shop (the writes of the orders, which "+
		"serve makes behind the answers, and its background polls included). The harness then waits until Postgres has "+
		"every order the sale placed.\n", saleRestock, firstBuyer, firstBuyer+saleBuyers-1)
	w("- **Redis memory** of the hot disc is read twice: right after the cold start and the lists, and after the sale. " +
		"MEMORY USAGE with SAMPLES 0 (every field), HLEN, OBJECT ENCODING; a bought hash that does not exist is shown as absent.\n")
	w("- **Postgres time** of an operation is the sum of `total_exec_time` of every statement in pg_stat_statements during " +
		"its last run (the harness's own statements left out), with the statements that took most of it.\n\n")

	w("## Machine\n\n| | |\n|---|---|\n")
	for _, l := range m.lines {
		w("%s\n", l)
	}
	path := filepath.Join(c.out, "history.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	logf("wrote %s", path)
	return nil
}

func writeSize(b *strings.Builder, c config, r *sizeResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	sz := r.size
	w("\n## Size %s: %s orders, %s customers, %s discs\n\n", sz.name, count(sz.orders), count(sz.customers), count(sz.discs))
	if r.fill != nil {
		w("Orders from %s to %s. Filled in **%s** (then %s of checks); the database is %s after the fill, %s after migrate.\n\n",
			r.span.start.Format(time.DateOnly), r.span.end.Format(time.DateOnly), fmtD(r.fill.total), fmtD(r.fill.verify),
			gib(r.fill.dbBytes), gib(r.dbBytes))
		w("| fill step | time |\n|---|---|\n")
		for _, p := range r.fill.phases {
			w("| %s | %s |\n", p.name, fmtD(p.d))
		}
		w("\n")
	}
	if len(r.migrated) > 0 {
		w("`recordshop migrate` applied: %s.\n\n", joinNames(r.migrated))
	} else if len(r.ops[opMigrate].samples) > 0 {
		w("`recordshop migrate` had nothing to apply: this binary has no migration beyond version 2.\n\n")
	}

	ok := true
	for _, ch := range r.checks {
		ok = ok && ch.ok
	}
	status := "all held"
	if !ok {
		status = "**SOME BROKE**"
	}
	w("### Checks (%s)\n\n| check | held | observed |\n|---|---|---|\n", status)
	for _, ch := range r.checks {
		held := "yes"
		if !ch.ok {
			held = "**NO**"
		}
		w("| %s | %s | %s |\n", ch.what, held, strings.ReplaceAll(ch.got, "|", "\\|"))
	}

	w("\n### Operations\n\n| operation | runs | min | median | max | Postgres time (last run) | where it went |\n|---|---|---|---|---|---|---|\n")
	for _, k := range opOrder {
		o := r.ops[k]
		if o == nil || len(o.samples) == 0 {
			continue
		}
		s := slices.Clone(o.samples)
		slices.Sort(s)
		w("| %s | %d | %s | %s | %s | %s in %d statements | %s |\n", opTitles[k], len(s), fmtD(s[0]), fmtD(s[len(s)/2]),
			fmtD(s[len(s)-1]), fmtD(time.Duration(o.pgTotal*float64(time.Millisecond))), o.pgCalls, topText(o))
	}
	w("\n| operation | each run |\n|---|---|\n")
	for _, k := range opOrder {
		o := r.ops[k]
		if o == nil || len(o.samples) == 0 {
			continue
		}
		var runs []string
		for i, d := range o.samples {
			runs = append(runs, fmt.Sprintf("%s (%s)", fmtD(d), o.runs[i]))
		}
		w("| %s | %s |\n", opTitles[k], strings.Join(runs, "; "))
	}

	if len(r.lists) > 0 {
		w("\n### Order lists (HTTP, one client, sequential)\n\n| list | requests | p50 | p99 | max | orders matching | first page | Postgres per request |\n|---|---|---|---|---|---|---|---|\n")
		for _, l := range r.lists {
			n := len(l.lat)
			req := fmt.Sprint(n)
			if l.stopped != "" {
				req += " (" + l.stopped + ")"
			}
			w("| %s | %s | %s | %s | %s | %s | %d | %.2f ms |\n", l.name, req, fmtD(pct(l.lat, 0.5)), fmtD(pct(l.lat, 0.99)),
				fmtD(pct(l.lat, 1)), count(l.inWindow), l.items, l.pgMeanMS)
		}
	}
	if r.sale != nil && len(r.sale.passes) > 0 {
		writeSale(b, r.sale)
	}
	if r.mem.usedMemory > 0 || r.coldMem.usedMemory > 0 {
		w("\n### Redis memory of the hot disc after the cold start and the sale\n\n")
		w("| key | after the cold start | after the cold start and the sale |\n|---|---|---|\n")
		w("| bought hash of the hot disc (`%s`) | %s | %s |\n", r.mem.boughtKey, boughtText(r.coldMem), boughtText(r.mem))
		w("| disc hash of the hot disc | %s | %s |\n", discText(r.coldMem), discText(r.mem))
		w("| the whole Redis (INFO used_memory) | %s | %s |\n", wholeText(r.coldMem), wholeText(r.mem))
	}
	if len(r.plans) > 0 {
		w("\n### Plans of the lists (auto_explain, ANALYZE, one request)\n")
		for _, l := range r.lists {
			if p, ok := r.plans[l.name]; ok {
				w("\n%s:\n\n```\n%s\n```\n", l.name, planSummary(p))
			}
		}
	}
	if len(r.notes) > 0 {
		w("\n### Notes\n\n")
		for _, n := range r.notes {
			w("- %s\n", n)
		}
	}
}

// writeSale writes the sale's table.
func writeSale(b *strings.Builder, sale *saleResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n### A sale on the hot disc after the cold start (POST /v1/orders, HTTP, one client, sequential)\n\n")
	if sale.known == "0" {
		w("The cold start left the hot disc's past buyers out of Redis (known = 0): in pass 1 Redis lacks every buyer, " +
			"and each order that gets as far as the limit reads the buyer's units from Postgres once; in pass 2 Redis holds them.")
	} else {
		w("The cold start put every past buyer of the hot disc into Redis (known = 1, at most 50,000 of them): " +
			"neither pass needs Postgres for a buyer's units, and pass 1 is an order of a buyer Redis holds too.")
	}
	w(" Customers %d..%d, one unit each, the same buyers in both passes", firstBuyer, firstBuyer+saleBuyers-1)
	if sale.restocked > 0 {
		w("; the hot disc was restocked by %d units first (POST /v1/discs/%d/restock), so that it does not sell out", sale.restocked, hotDisc)
	}
	w(". %d of the orders were in Postgres once serve wrote them.\n\n", sale.persisted)
	w("| pass | requests | p50 | p99 | max | answers | Postgres per request: units reads (mean time) / statements in all |\n|---|---|---|---|---|---|---|\n")
	for _, p := range sale.passes {
		n := len(p.lat)
		req := fmt.Sprint(n)
		if p.failed != "" {
			req += " (stopped: " + strings.ReplaceAll(shorten(p.failed, 200), "|", "\\|") + ")"
		}
		pg := "—"
		if n > 0 {
			pg = fmt.Sprintf("%.2f", float64(p.unitsCalls)/float64(n))
			if p.unitsCalls > 0 {
				pg += fmt.Sprintf(" (%.3f ms)", p.unitsMS/float64(p.unitsCalls))
			}
			pg += fmt.Sprintf(" / %.2f", float64(p.pgCalls)/float64(n))
		}
		w("| %s | %s | %s | %s | %s | %s | %s |\n", p.name, req, fmtD(pct(p.lat, 0.5)), fmtD(pct(p.lat, 0.99)), fmtD(pct(p.lat, 1)),
			p.answerText(), pg)
	}
}

// boughtText describes the hot disc's bought hash in the memory table.
func boughtText(m memResult) string {
	if m.usedMemory == 0 {
		return "—"
	}
	if m.boughtEncoding == "absent" {
		return fmt.Sprintf("absent: no buyer in Redis (known = %s)", knownText(m.known))
	}
	return fmt.Sprintf("%d B, %d buyers, %.1f B per buyer (%s; known = %s)", m.boughtBytes, m.buyers,
		float64(m.boughtBytes)/float64(max(m.buyers, 1)), m.boughtEncoding, knownText(m.known))
}

// knownText is the disc hash's known flag as the report shows it.
func knownText(known string) string {
	if known == "" {
		return "absent, so 1"
	}
	return known
}

// discText describes the hot disc's disc hash in the memory table.
func discText(m memResult) string {
	if m.usedMemory == 0 {
		return "—"
	}
	return fmt.Sprintf("%d B, %d fields", m.discBytes, m.discFields)
}

// wholeText describes the whole Redis in the memory table.
func wholeText(m memResult) string {
	if m.usedMemory == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB, %d keys", float64(m.usedMemory)/(1<<20), m.keys)
}

// topText names the statements that took most of an operation's time in Postgres, and those the statement
// timeout cancelled.
func topText(o *op) string {
	var parts []string
	for _, q := range o.timedOut {
		parts = append(parts, fmt.Sprintf("**cancelled by statement_timeout:** `%s`", strings.ReplaceAll(shorten(q, 140), "|", "\\|")))
	}
	if o.pgTotal <= 0 || len(o.top) == 0 {
		return strings.Join(parts, "<br>")
	}
	for _, st := range o.top {
		share := 100 * st.totalMS / o.pgTotal
		if share < 5 {
			break
		}
		parts = append(parts, fmt.Sprintf("%.0f%% `%s` (%d calls)", share, strings.ReplaceAll(shorten(st.query, 140), "|", "\\|"), st.calls))
	}
	return strings.Join(parts, "<br>")
}
