package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// report is what one scenario writes to <out>/<name>.md.
type report struct {
	name     string
	title    string
	intro    string
	summary  []string
	tables   []string
	commands []string
	checks   []check
	rss      rss
	chart    func(path string) error
	notes    []string
}

func serveCommand(s *shop) string {
	return fmt.Sprintf("RS_PG_URL=<devstack Postgres> RS_REDIS_URL=<devstack Redis> RS_HTTP_ADDR=127.0.0.1:<free port> "+
		"RS_ADMIN_TOKENS=%s RS_STOREFRONT_TOKENS=%s RS_LOG_LEVEL=warn RS_RESERVE_MODE=%s bin/recordshop serve",
		"<admin>", "<storefront>", s.mode)
}

func runRow(r *run) string {
	return fmt.Sprintf("| %d | %.0f | %d | %d | %d | %d | %s | %s | %s | %s |", r.rate, r.achieved(), len(r.samples),
		r.codes[201], r.codes[409], r.errors, fmtD(r.p(0.5)), fmtD(r.p(0.9)), fmtD(r.p(0.99)), fmtD(r.metrics.Latencies.Max))
}

const runHeader = "| rate asked (/s) | sent (/s) | requests | 201 | 409 | errors | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|---|---|"

func fmtD(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", ms(d))
	default:
		return fmt.Sprintf("%.2f ms", ms(d))
	}
}

// hohpe: the launch of "We are Reactive": 500 units, 3,000 buyers in one burst. Exactly 500 are sold.
func hohpe(ctx context.Context, c config, s *shop, from int64) (*report, error) {
	const stock, buyers, burstRate = 500, 3000, 6000
	burst := time.Duration(buyers) * time.Second / burstRate
	d, err := s.createDisc("We are Reactive (bench)", stock, 2)
	if err != nil {
		return nil, err
	}
	s.resetPeaks()
	logf("hohpe-launch: %d buyers at %d/s on disc %d (%d units)", buyers, burstRate, d.ID, stock)
	tg := &orderTargeter{base: s.base, token: storefrontToken, disc: d.ID, from: from, to: from + buyers - 1, prefix: "hohpe"}
	r := attack(newClient(), "hohpe-launch", tg.targeter(), burstRate, burst)
	transport := r.codes[0]
	checks, drain := s.verify(ctx, d.ID, stock, r.created, transport)
	checks = append(checks, check{what: "exactly 500 sold (201 answers)", ok: len(r.created) == stock,
		got: fmt.Sprintf("%d answered 201, %d answered 409", len(r.created), r.codes[409])})
	rep := &report{name: "hohpe-launch", title: "hohpe-launch: 500 units, 3,000 buyers in a burst",
		intro: fmt.Sprintf("The launch of \"We are Reactive\" by Hohpe: a disc with %d units and a limit of 2 per customer, and %d "+
			"distinct buyers (one unit each, each with its own Idempotency-Key) sent by vegeta at %d requests/s, so the "+
			"whole crowd arrives within %s. Exactly %d must get 201 and the rest 409 sold-out.", stock, buyers, burstRate, burst, stock),
		rss: s.peaks()}
	lt := r.metrics.Latencies
	rep.tables = append(rep.tables, runHeader+"\n"+runRow(r),
		fmt.Sprintf("Latency distribution of all %d answers:\n\n| min | p50 | p90 | p95 | p99 | max | mean |\n|---|---|---|---|---|---|---|\n| %s | %s | %s | %s | %s | %s | %s |",
			len(r.samples), fmtD(lt.Min), fmtD(r.p(0.5)), fmtD(r.p(0.9)), fmtD(r.p(0.95)), fmtD(r.p(0.99)), fmtD(lt.Max), fmtD(lt.Mean)),
		hist(r.samples))
	rep.summary = append(rep.summary, fmt.Sprintf("%d sold of %d, %d answered 409, %d errors; p50 %s, p99 %s; writer drained in %s.",
		len(r.created), stock, r.codes[409], r.errors, fmtD(r.p(0.5)), fmtD(r.p(0.99)), drain.Round(time.Millisecond)))
	rep.commands = []string{serveCommand(s),
		fmt.Sprintf("# disc: POST /v1/discs {\"stock\":%d,\"per_customer_limit\":2,...}; customers inserted with SQL (generate_series)", stock),
		fmt.Sprintf("# attack (in process, vegeta library): rate %d/s for %s, POST /v1/orders, customers %d..%d, one Idempotency-Key each", burstRate, burst, from, from+buyers-1),
		fmt.Sprintf("# the same with the CLI: bench/attack.sh --url <url> --token <storefront> --disc %d --rate %d --duration %s --customer-from %d --customer-to %d",
			d.ID, burstRate, burst, from, from+buyers-1)}
	rep.checks = checks
	width := 50 * time.Millisecond
	rep.chart = func(p string) error {
		return writeChart(p, "hohpe-launch", width, []series{{buckets: perSecond(r.start, r.samples, width)}}, 0)
	}
	return rep, nil
}

// hist is a latency histogram table.
func hist(ss []sample) string {
	bounds := []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
		20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Hour}
	counts := make([]int, len(bounds))
	for _, s := range ss {
		for i, b := range bounds {
			if s.latency <= b {
				counts[i]++
				break
			}
		}
	}
	var b strings.Builder
	b.WriteString("| latency | answers | share |\n|---|---|---|\n")
	prev := "0"
	for i, n := range counts {
		label := fmt.Sprintf("%s – %s", prev, bounds[i])
		if bounds[i] == time.Hour {
			label = "> " + prev
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f%% |\n", label, n, 100*float64(n)/float64(max(1, len(ss))))
		prev = bounds[i].String()
	}
	return b.String()
}

func (r *run) passes(c config) (bool, string) {
	switch {
	case r.errors > 0:
		return false, fmt.Sprintf("%d errors", r.errors)
	case r.p(0.99) > c.p99:
		return false, fmt.Sprintf("p99 %s > %s", fmtD(r.p(0.99)), c.p99)
	case r.achieved() < 0.95*float64(r.rate):
		return false, fmt.Sprintf("vegeta sent only %.0f/s", r.achieved())
	}
	return true, "pass"
}

// cooldown is the pause after a failed step.
const cooldown = 10 * time.Second

// search steps the rate up through c.rates until a step fails, then halves the interval between the last pass
// and the first failure until it is narrower than 5% of the passing rate (at least 25/s), so the maximum it
// reports is within 5% of the true one. A failed step is run once more: on 2 shared cores one GC pause or
// fsync can spoil a step, so a rate fails only when it fails twice in a row. drain (may be nil) runs before
// every step, so each starts with an empty writer backlog. All steps share one HTTP client (warm connections).
func search(c config, name string, tr vegeta.Targeter, drain func()) (steps []*run, verdicts []string, best *run) {
	client := newClient()
	warm := attack(client, name+"-warmup", tr, 500, 2*time.Second)
	logf("%s: warm-up 500/s: p99 %s", name, fmtD(warm.p(0.99)))
	steps, verdicts = append(steps, warm), append(verdicts, "warm-up (not counted)")
	step := func(rate int, note string) bool {
		for try := 1; try <= 2; try++ {
			if drain != nil {
				drain()
			}
			r := attack(client, name, tr, rate, c.step)
			pass, why := r.passes(c)
			again := ""
			if try == 2 {
				again = " (retry)"
			}
			logf("%s: %d/s%s%s: sent %.0f/s, p50 %s, p99 %s, errors %d: %s", name, rate, note, again, r.achieved(),
				fmtD(r.p(0.5)), fmtD(r.p(0.99)), r.errors, why)
			steps, verdicts = append(steps, r), append(verdicts, why+note+again)
			if pass {
				best = r
				return true
			}
			// An overloaded step leaves work behind (Postgres vacuuming the rows it inserted, Redis and
			// Postgres syncing what it wrote): let it finish, so the next step starts as quiet as a step of
			// the ramp does instead of being judged on the last one's aftermath.
			time.Sleep(cooldown)
		}
		return false
	}
	failAt := 0
	for _, rate := range c.rates {
		if !step(rate, "") {
			failAt = rate
			break
		}
	}
	for best != nil && failAt > 0 {
		gap := failAt - best.rate
		if gap <= max(25, best.rate/20) {
			break
		}
		mid := (best.rate + gap/2) / 25 * 25
		if mid <= best.rate || mid >= failAt {
			break
		}
		if step(mid, " (between the last pass and the first failure)") {
			continue
		}
		failAt = mid
	}
	return steps, verdicts, best
}

func (s *shop) waitDrained() {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := s.backlog(); err == nil && b == 0 {
			return
		}
	}
}

func stepTable(steps []*run, verdicts []string) string {
	var b strings.Builder
	b.WriteString("| rate asked (/s) | sent (/s) | requests | 201 | 409 | errors | p50 | p90 | p99 | max | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range steps {
		fmt.Fprintf(&b, "%s %s |\n", runRow(r), verdicts[i])
	}
	return b.String()
}

func stepSeries(steps []*run) []series {
	var all []sample
	for _, r := range steps {
		all = append(all, r.samples...)
	}
	return []series{{buckets: perSecond(steps[0].start, all, time.Second)}}
}

// sustained finds the highest rate with p99 <= c.p99 and no errors on one disc with a large stock; for the
// Redis mode it also measures the writer lag at that rate.
func sustained(ctx context.Context, c config, s *shop, name string, from, to int64) (*report, *run, lag, error) {
	const stock = 10_000_000
	d, err := s.createDisc("Sustained ("+s.mode+")", stock, 0)
	if err != nil {
		return nil, nil, lag{}, err
	}
	s.resetPeaks()
	tg := &orderTargeter{base: s.base, token: storefrontToken, disc: d.ID, from: from, to: to, prefix: name}
	steps, verdicts, best := search(c, name, tg.targeter(), s.waitDrained)
	var created []string
	transport := 0
	for _, r := range steps {
		created = append(created, r.created...)
		transport += r.codes[0]
	}
	var l lag
	rep := &report{name: name, rss: s.peaks()}
	if best != nil && s.mode == "redis" {
		if l, err = s.lagOf(ctx, d.ID, best.start, best.end); err != nil {
			return nil, nil, l, err
		}
	}
	checks, drain := s.verify(ctx, d.ID, stock, created, transport)
	rep.checks = checks
	if name == "baseline" {
		rep.title = "baseline: the sustained search with RS_RESERVE_MODE=postgres"
		rep.intro = "The same search as `sustained`, on a fresh stack whose recordshop runs RS_RESERVE_MODE=postgres: each order " +
			"is one Postgres transaction (lock the disc row, check, conditional UPDATE, INSERT) with fsync on. This is what a " +
			"user would build instead."
	} else {
		rep.title = "sustained: the highest order rate with p99 <= " + c.p99.String() + " and no errors"
		rep.intro = fmt.Sprintf("One disc with %d units and no per-customer limit; every request is a distinct customer with its "+
			"own Idempotency-Key. The customers signed up before serve started, so its customer cache knows them and an order "+
			"makes no Postgres round trip. vegeta "+
			"sends at a fixed rate (open model) for %s per step, stepping up until a step has p99 > %s, an error (anything but "+
			"201/200/409, including transport errors) or sends below 95%% of the asked rate; then it halves the interval between "+
			"the last pass and the first failure until it is narrower than 5%% of the passing rate. A failed step is run once "+
			"more, and a rate fails only when it fails twice in a row; a failed step is followed by a 10 s pause, so the next "+
			"starts as quiet as a step of the ramp does. All steps share one HTTP client (its keep-alive "+
			"connections stay open between steps), and the writer's backlog is drained before each step.", stock, c.step, c.p99)
	}
	rep.tables = append(rep.tables, stepTable(steps, verdicts))
	if best != nil {
		line := fmt.Sprintf("**Max sustained rate: %d orders/s** (p50 %s, p99 %s, %d errors).", best.rate, fmtD(best.p(0.5)), fmtD(best.p(0.99)), best.errors)
		if s.mode == "redis" {
			line += fmt.Sprintf(" Writer lag at that rate (persisted_at - reserved_at of its orders, from Postgres): p50 %s, p99 %s, max %s (target p99 <= 100 ms: %s).",
				fmtD(l.p50), fmtD(l.p99), fmtD(l.max), verdict(l.p99 <= 100*time.Millisecond))
		}
		rep.summary = append(rep.summary, line)
	} else {
		rep.summary = append(rep.summary, "No step passed.")
	}
	rep.summary = append(rep.summary, fmt.Sprintf("Writer drained %s after the last step.", drain.Round(time.Millisecond)))
	rep.commands = []string{serveCommand(s),
		fmt.Sprintf("# disc: POST /v1/discs {\"stock\":%d,\"per_customer_limit\":0,...}; %d customers inserted with SQL", stock, c.customers),
		fmt.Sprintf("# each step (in process, vegeta library): rate R/s for %s, POST /v1/orders, distinct customers and Idempotency-Keys", c.step),
		fmt.Sprintf("# one step with the CLI: bench/attack.sh --url <url> --token <storefront> --disc %d --rate R --duration %s --customer-from %d --customer-to %d",
			d.ID, c.step, from, to)}
	rep.chart = func(p string) error { return writeChart(p, name, time.Second, stepSeries(steps), c.p99) }
	return rep, best, l, nil
}

// ceiling runs the same search against the bare ceiling server.
func ceiling(ctx context.Context, c config, s *shop) (*report, *run, error) {
	tg := &orderTargeter{base: s.base, token: storefrontToken, disc: 1, from: 1, to: 1 << 40, prefix: "ceiling"}
	s.resetPeaks()
	steps, verdicts, best := search(c, "ceiling", tg.targeter(), nil)
	rep := &report{name: "ceiling", title: "ceiling: a bare Hertz server running one EVALSHA of the frozen reserve.lua",
		intro: "bench/cmd/ceiling is a Hertz server whose only handler decodes the order body and runs its frozen copy of " +
			"reserve.lua (the script and Gate.Reserve's keys and arguments of commit 12f9cca) once, one EVALSHA, on a fresh " +
			"Redis with AOF everysec; no auth, validation, customer " +
			"lookup, metrics or logs. It is loaded by the same in-process vegeta with the same steps on the same machine: " +
			"the most the order path could do here. It has no Postgres side, so there are no invariants to check.",
		rss: s.peaks()}
	rep.tables = append(rep.tables, stepTable(steps, verdicts))
	if best != nil {
		rep.summary = append(rep.summary, fmt.Sprintf("**Ceiling: %d orders/s** (p50 %s, p99 %s).", best.rate, fmtD(best.p(0.5)), fmtD(best.p(0.99))))
	}
	rep.commands = []string{"bin/bench-ceiling -addr 127.0.0.1:<free port> -redis-url <devstack Redis> -disc 1",
		fmt.Sprintf("# each step (in process, vegeta library): rate R/s for %s, POST /v1/orders", c.step)}
	rep.chart = func(p string) error { return writeChart(p, "ceiling", time.Second, stepSeries(steps), c.p99) }
	return rep, best, nil
}

// browse reads the catalog at a fixed rate while a launch sells at half the max sustained rate.
func browse(ctx context.Context, c config, s *shop, best *run, from, to int64) (*report, error) {
	const readRate, stock = 300, 10_000_000
	dur := 10 * time.Second
	orderRate := 1000
	if best != nil {
		orderRate = max(500, best.rate/2)
	}
	logf("browse: seeding the catalog")
	if err := s.seed(ctx, 2000); err != nil {
		return nil, err
	}
	var maxID int64
	if err := s.pool.QueryRow(ctx, `SELECT max(id) FROM discs`).Scan(&maxID); err != nil {
		return nil, err
	}
	d, err := s.createDisc("Browse launch", stock, 0)
	if err != nil {
		return nil, err
	}
	s.resetPeaks()
	paths := []string{"/v1/discs?artist=a&limit=20", "/v1/discs?style=jazz&year_from=1950&year_to=1979&limit=20",
		"/v1/discs?name=love&in_stock=true&sort=-release_year&limit=10", "/v1/discs?year=2022&sort=name&limit=20", "GET"}
	var n atomic.Uint64
	reads := func(t *vegeta.Target) error {
		i := n.Add(1) - 1 // vegeta calls the targeter from its workers' goroutines
		p := paths[i%uint64(len(paths))]
		if p == "GET" {
			p = fmt.Sprintf("/v1/discs/%d", 1+rand.Int64N(maxID))
		}
		t.Method, t.URL, t.Header = "GET", s.base+p, http.Header{}
		return nil
	}
	tg := &orderTargeter{base: s.base, token: storefrontToken, disc: d.ID, from: from, to: to, prefix: "browse"}
	logf("browse: reads %d/s with orders %d/s for %s", readRate, orderRate, dur)
	var orders *run
	done := make(chan struct{})
	go func() { orders = attack(newClient(), "browse-orders", tg.targeter(), orderRate, dur); close(done) }()
	rd := attack(newClient(), "browse-reads", reads, readRate, dur)
	<-done
	rd.errors = 0
	for code, k := range rd.codes {
		if code != 200 {
			rd.errors += k
		}
	}
	checks, _ := s.verify(ctx, d.ID, stock, orders.created, orders.codes[0])
	rep := &report{name: "browse", title: "browse: catalog reads during a sustained launch",
		intro: fmt.Sprintf("Catalog reads at %d/s (lists with filters: artist contains, style + year range, name + in_stock sorted by "+
			"year, year sorted by name; and GET /v1/discs/{id} of random discs among %d) for %s, while orders of one disc "+
			"sell at %d/s (half the max sustained rate found by `sustained`), on the same Redis-mode stack after "+
			"`recordshop seed --discs 2000`.", readRate, maxID, dur, orderRate),
		rss: s.peaks(), checks: checks}
	rep.tables = append(rep.tables, "| traffic | rate asked (/s) | sent (/s) | requests | 2xx | 409 | errors | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|---|---|---|\n"+
		fmt.Sprintf("| catalog reads | %d | %.0f | %d | %d | %d | %d | %s | %s | %s | %s |\n", readRate, rd.achieved(), len(rd.samples), rd.codes[200], rd.codes[409], rd.errors,
			fmtD(rd.p(0.5)), fmtD(rd.p(0.9)), fmtD(rd.p(0.99)), fmtD(rd.metrics.Latencies.Max))+
		fmt.Sprintf("| orders | %d | %.0f | %d | %d | %d | %d | %s | %s | %s | %s |", orderRate, orders.achieved(), len(orders.samples), orders.codes[201], orders.codes[409], orders.errors,
			fmtD(orders.p(0.5)), fmtD(orders.p(0.9)), fmtD(orders.p(0.99)), fmtD(orders.metrics.Latencies.Max)))
	rep.summary = append(rep.summary, fmt.Sprintf("**Catalog reads: p50 %s, p99 %s** (%d errors) while orders ran at %d/s (p50 %s, p99 %s).",
		fmtD(rd.p(0.5)), fmtD(rd.p(0.99)), rd.errors, orderRate, fmtD(orders.p(0.5)), fmtD(orders.p(0.99))))
	rep.commands = []string{serveCommand(s), "bin/recordshop seed --discs 2000",
		fmt.Sprintf("# in process, vegeta library, concurrently for %s: GET %s at %d/s and POST /v1/orders at %d/s", dur, strings.Join(paths[:4], ", "), readRate, orderRate)}
	t0 := orders.start
	if rd.start.Before(t0) {
		t0 = rd.start
	}
	rep.chart = func(p string) error {
		return writeChart(p, "browse", time.Second, []series{{label: "reads", buckets: perSecond(t0, rd.samples, time.Second)},
			{label: "orders", buckets: perSecond(t0, orders.samples, time.Second)}}, 0)
	}
	return rep, nil
}

// write writes the report and its chart; it reports whether every check held.
func (r *report) write(out string, m machine) bool {
	ok := true
	for _, c := range r.checks {
		ok = ok && c.ok
	}
	chart := r.name + ".png"
	if r.chart != nil {
		if err := r.chart(filepath.Join(out, chart)); err != nil {
			logf("%s: chart: %v", r.name, err)
			r.notes = append(r.notes, "The chart could not be drawn: "+err.Error())
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nMeasured %s by `make bench` (bench/cmd/launchbench) on a fresh stack.\n\n%s\n\n",
		r.title, time.Now().UTC().Format("2006-01-02 15:04 UTC"), r.intro)
	for _, s := range r.summary {
		b.WriteString(s + "\n\n")
	}
	status := "all held"
	if !ok {
		status = "**BROKEN: the bench fails**"
	}
	if len(r.checks) > 0 {
		fmt.Fprintf(&b, "## Invariants (%s)\n\n| check | held | observed |\n|---|---|---|\n", status)
		for _, c := range r.checks {
			held := "yes"
			if !c.ok {
				held = "**NO**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", c.what, held, strings.ReplaceAll(c.got, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Results\n\n")
	for _, t := range r.tables {
		b.WriteString(t + "\n\n")
	}
	fmt.Fprintf(&b, "Latency is measured by vegeta from send to the last byte of the answer. \"errors\" are answers other than 2xx and 409, "+
		"and transport errors.\n\n![latency and throughput over time](%s)\n\n", chart)
	fmt.Fprintf(&b, "## Peak memory (VmHWM during this scenario)\n\n| process | peak RSS |\n|---|---|\n| %s | %.0f MiB |\n| redis-server | %.0f MiB |\n\n",
		map[bool]string{true: "bench-ceiling", false: "recordshop serve"}[r.name == "ceiling"], r.rss.Shop, r.rss.Redis)
	b.WriteString("## Commands\n\n```\nmake bench   # go build -o bin/recordshop ./cmd/recordshop; go build -o bin/bench-ceiling ./bench/cmd/ceiling; go run ./bench/cmd/launchbench\n")
	for _, c := range r.commands {
		b.WriteString(c + "\n")
	}
	b.WriteString("```\n\n## Machine\n\n| | |\n|---|---|\n")
	for _, l := range m.lines {
		b.WriteString(l + "\n")
	}
	for _, n := range r.notes {
		b.WriteString("\n" + n + "\n")
	}
	if err := os.WriteFile(filepath.Join(out, r.name+".md"), []byte(b.String()), 0o644); err != nil {
		logf("%s: %v", r.name, err)
		return false
	}
	logf("%s: wrote %s (invariants %s)", r.name, filepath.Join(out, r.name+".md"), status)
	return ok
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.SplitN(string(out), "\n", 2)[0]
}
