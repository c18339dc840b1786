package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
)

// The history the fill writes. Everything is a function of the row number, so two fills of one size are alike.
//
//   - customers 1..C (COPY from Go, each validated by biz/model as the sign-up is: a CPF with its check
//     digits, a plain email, a phone, a birth date); 0.5% are deactivated.
//   - discs 1..D (COPY from Go, each validated as a POST /v1/discs body), on sale since before the first
//     order. Disc 1 is the hot disc: every tenth order is one of it, with a limit of hotLimit units per
//     customer (so Redis keeps its buyers' units); the others have no limit.
//   - orders 0..N-1 (INSERT ... SELECT FROM generate_series), one every span/N milliseconds over five years
//     ending four days ago, in time order as a shop writes them. Customer 1 is the heavy buyer (every
//     hundredth order); the other customers and discs are picked by hashint8extended, except the hot disc's
//     buyers: the j-th order of it goes to customer 2 + (j * 1000003) mod (C-1), a permutation, so that no
//     buyer has more than two orders of it and the limit holds by construction. 12.5% of the orders are
//     of two units, 5% carry an Idempotency-Key, 2% were cancelled 1 to 72 hours after the order. The id is a
//     UUIDv7 of reserved_at; stream_partition = disc_id mod 16 and stream_id = "<reserved_at ms>-0", so the
//     stream positions rise with reserved_at in every partition.
//   - stock_events: per disc a "create" (version 1) of its initial stock = every unit ever ordered + what is
//     left (5..54, the hot disc 500), then one "cancel" per cancelled order (versions 2, 3, ... in the order
//     of the cancels) giving its units back. All applied to Redis long ago (applied_at set).
//   - discs.stock = sum(stock_events.delta) - sum(orders.quantity), cancelled orders included; stock_version =
//     the disc's last event version. The stock never went below zero.
const (
	hotDisc    = 1
	hotLimit   = 4 // two orders of at most two units each
	heavyBuyer = 1
	historyLen = 5 // years
)

// span is the time the orders cover.
type span struct {
	start, end time.Time
	stepMS     int64 // between two orders
}

func newSpan(sz size, now time.Time) span {
	// Four days back, so that a cancel 72 hours after the last order is in the past too.
	end := now.Add(-4 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	start := end.AddDate(-historyLen, 0, 0)
	return span{start: start, end: end, stepMS: end.Sub(start).Milliseconds() / sz.orders}
}

// at is the reserved_at of order i.
func (sp span) at(i int64) time.Time {
	return sp.start.Add(time.Duration(i*sp.stepMS) * time.Millisecond)
}

// phase is one timed step.
type phase struct {
	name string
	d    time.Duration
}

// fillResult is what the fill did and how long each step took.
type fillResult struct {
	phases   []phase
	total    time.Duration
	verify   time.Duration
	dbBytes  int64
	migrated []string // the migrations applied before the fill (schema v2)
	checks   []check
}

// orderSQL writes the orders lo..hi in one statement: see the comment at the top of this file. The OFFSET 0
// keep Postgres from inlining the subqueries, which would compute each hash once per use.
var orderSQL = `
INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, status, reserved_at, persisted_at,
                    cancelled_at, idempotency_key, stream_partition, stream_id)
SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex((h >> 50) & 4095), 3, '0') || to_hex(8 + ((k >> 10) & 3))
        || lpad(to_hex((k >> 12) & 4294967295), 8, '0') || lpad(to_hex(i), 7, '0'))::uuid,
       cust, disc, 1 + ((k >> 40) % 8 = 0)::int, ` + priceSQL + `,
       CASE WHEN cancelled THEN 'cancelled' ELSE 'confirmed' END,
       at, at + interval '20 milliseconds',
       CASE WHEN cancelled THEN at + make_interval(hours => (1 + (h >> 20) % 72)::int) END,
       CASE WHEN (k >> 48) % 20 = 0 THEN 'idem-' || to_hex(h) END,
       disc % ` + strconv.Itoa(partitions) + `, ms || '-0'
FROM (
    SELECT i, ms, to_timestamp(ms / 1000.0::float8) AS at, h, k,
           CASE WHEN i % 100 = 0 THEN 1
                WHEN i % 10 = 1 THEN 2 + ((i / 10) * 1000003) % ($3::bigint - 1)
                ELSE 2 + h % ($3::bigint - 1) END AS cust,
           CASE WHEN i % 10 = 1 THEN 1 ELSE 2 + k % ($4::bigint - 1) END AS disc,
           (h >> 40) % 50 = 0 AS cancelled
    FROM (
        SELECT i, $1::bigint + i * $2::bigint AS ms,
               hashint8extended(i, 17) & 9223372036854775807 AS h,
               hashint8extended(i, 29) & 9223372036854775807 AS k
        FROM generate_series($5::bigint, $6::bigint) AS i OFFSET 0
    ) a OFFSET 0
) b`

// priceSQL is the price of a disc in SQL; price is the same in Go. Orders were bought at today's price.
const priceSQL = `1990 + (disc % 40) * 250`

func price(disc int64) int64 { return 1990 + (disc%40)*250 }

// leftover is what a disc has in stock today.
func leftover(disc int64) int64 {
	if disc == hotDisc {
		return 500
	}
	return 5 + disc%50
}

// fill writes the history of sz into the stack's database at schema version 2, then builds the indexes and
// keys, analyses the tables and checks what it wrote.
func fill(ctx context.Context, s *stack, sz size, sp span) (*fillResult, error) {
	fr := &fillResult{}
	t0 := time.Now()
	step := func(name string, start time.Time) {
		fr.phases = append(fr.phases, phase{name, time.Since(start)})
		logf("  %s: %s", name, time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	applied, err := pg.MigrateTo(ctx, s.pool, 2)
	if err != nil {
		return nil, err
	}
	fr.migrated = applied
	tables := []string{"customers", "discs", "orders", "stock_events"}
	def, err := deferIndexes(ctx, s.pool, tables)
	if err != nil {
		return nil, err
	}
	step("schema v2 (pg.MigrateTo), then drop its indexes and keys", start)

	start = time.Now()
	var wg sync.WaitGroup
	var custErr, ordErr error
	var custTime time.Duration
	wg.Add(2)
	go func() {
		defer wg.Done()
		t := time.Now()
		custErr = copyCustomers(ctx, s, sz, sp)
		custTime = time.Since(t)
	}()
	go func() {
		defer wg.Done()
		ordErr = insertOrders(ctx, s, sz, sp)
	}()
	wg.Wait()
	if custErr != nil {
		return nil, custErr
	}
	if ordErr != nil {
		return nil, ordErr
	}
	step(fmt.Sprintf("%d orders (INSERT ... SELECT) beside %d customers (COPY, %s)", sz.orders, sz.customers, custTime.Round(time.Millisecond)), start)

	start = time.Now()
	if err := copyDiscs(ctx, s, sz, sp); err != nil {
		return nil, err
	}
	step(fmt.Sprintf("%d discs and their create events (COPY, from the orders' totals)", sz.discs), start)

	start = time.Now()
	tag, err := s.pool.Exec(ctx, `
INSERT INTO stock_events (disc_id, version, delta, reason, order_id, created_at, applied_at)
SELECT disc_id, 1 + row_number() OVER (PARTITION BY disc_id ORDER BY cancelled_at, id), quantity, 'cancel', id,
       cancelled_at, cancelled_at + interval '5 milliseconds'
FROM orders WHERE status = 'cancelled'`)
	if err != nil {
		return nil, fmt.Errorf("cancel events: %w", err)
	}
	step(fmt.Sprintf("%d cancel events (INSERT ... SELECT)", tag.RowsAffected()), start)

	phases, err := def.restore(ctx, s.pool, 2)
	if err != nil {
		return nil, err
	}
	for _, p := range phases {
		fr.phases = append(fr.phases, p)
		logf("  %s: %s", p.name, p.d.Round(time.Millisecond))
	}

	start = time.Now()
	if err := vacuumAnalyze(ctx, s); err != nil {
		return nil, err
	}
	step("VACUUM (ANALYZE) and CHECKPOINT", start)
	fr.total = time.Since(t0)

	start = time.Now()
	fr.checks, err = verifyFill(ctx, s, sz)
	if err != nil {
		return nil, err
	}
	fr.verify = time.Since(start)
	_ = s.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&fr.dbBytes)
	return fr, nil
}

// insertOrders writes the orders in statements of a million rows, in time order, on one connection: the heap
// then lies in reserved_at order, as a shop's does (two writers would interleave their pages).
func insertOrders(ctx context.Context, s *stack, sz size, sp span) error {
	const chunk = 1_000_000
	for lo := int64(0); lo < sz.orders; lo += chunk {
		hi := min(lo+chunk, sz.orders) - 1
		t := time.Now()
		if _, err := s.pool.Exec(ctx, orderSQL, sp.start.UnixMilli(), sp.stepMS, sz.customers, sz.discs, lo, hi); err != nil {
			return fmt.Errorf("orders %d..%d: %w", lo, hi, err)
		}
		logf("  orders %d..%d (%s)", lo, hi, time.Since(t).Round(time.Millisecond))
	}
	return nil
}

var (
	firstNames = []struct{ name, ascii string }{{"Ana", "ana"}, {"João", "joao"}, {"Maria", "maria"}, {"José", "jose"},
		{"Beatriz", "beatriz"}, {"Lucas", "lucas"}, {"Fernanda", "fernanda"}, {"Rafael", "rafael"}, {"Juliana", "juliana"},
		{"Gabriel", "gabriel"}, {"Camila", "camila"}, {"Pedro", "pedro"}, {"Larissa", "larissa"}, {"Mateus", "mateus"},
		{"Letícia", "leticia"}, {"Thiago", "thiago"}, {"Mariana", "mariana"}, {"Bruno", "bruno"}, {"Patrícia", "patricia"},
		{"Diego", "diego"}, {"Aline", "aline"}, {"Rodrigo", "rodrigo"}, {"Vanessa", "vanessa"}, {"Felipe", "felipe"}}
	lastNames = []struct{ name, ascii string }{{"Silva", "silva"}, {"Santos", "santos"}, {"Oliveira", "oliveira"},
		{"Souza", "souza"}, {"Rodrigues", "rodrigues"}, {"Ferreira", "ferreira"}, {"Alves", "alves"}, {"Pereira", "pereira"},
		{"Lima", "lima"}, {"Gomes", "gomes"}, {"Costa", "costa"}, {"Ribeiro", "ribeiro"}, {"Martins", "martins"},
		{"Carvalho", "carvalho"}, {"Araújo", "araujo"}, {"Melo", "melo"}, {"Barbosa", "barbosa"}, {"Conceição", "conceicao"}}
	domains = []string{"example.com", "example.org", "example.net", "mail.example.com.br"}
	adjs    = []string{"Blue", "Midnight", "Electric", "Quiet", "Golden", "Broken", "Wild", "Velvet", "Silver", "Lonely",
		"Burning", "Hidden", "Endless", "Paper", "Neon", "Summer", "Winter", "Crystal", "Distant", "Sacred"}
	nouns = []string{"Train", "River", "Dreams", "Highway", "Garden", "Machine", "Ocean", "Skyline", "Letters", "Echoes",
		"Horizon", "Storm", "Island", "Mirrors", "Shadows", "Avenue", "Signals", "Harbor", "Lanterns", "Tides"}
	artistFirst = []string{"Nara", "Tom", "Elis", "Milton", "Gal", "Caetano", "Rita", "Jorge", "Marisa", "Chico",
		"Baden", "Cássia", "Djavan", "Zélia", "Arnaldo", "Adriana"}
	artistLast = []string{"Quartet", "Trio", "& the Waves", "Ensemble", "Band", "Orchestra", "Collective", "Duo"}
	styles     = []string{"Rock", "Jazz", "Indie", "MPB", "Samba", "Bossa Nova", "Soul", "Funk", "Blues", "Electronic",
		"Hip Hop", "Classical", "Folk", "Reggae", "Pop", "Metal"}
)

// copyCustomers writes customers 1..C with COPY (the ids come from the identity, 1..C on a fresh table).
func copyCustomers(ctx context.Context, s *stack, sz size, sp span) error {
	now := time.Now()
	birth0 := time.Date(1945, 1, 1, 0, 0, 0, 0, time.UTC)
	var i int64
	var verr error
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= sz.customers || verr != nil {
			return nil, verr
		}
		i++
		f, l := firstNames[i%int64(len(firstNames))], lastNames[(i/int64(len(firstNames)))%int64(len(lastNames))]
		c := model.CustomerCreate{
			// Distinct nine-digit prefixes (100,000,007 up), none of them nine equal digits.
			Document:  model.CPFFromSeed(100_000_000 + i*7),
			Name:      f.name + " " + l.name,
			Email:     fmt.Sprintf("%s.%s%d@%s", f.ascii, l.ascii, i, domains[i%int64(len(domains))]),
			Phone:     fmt.Sprintf("+55 (%02d) 9%04d-%04d", 11+i%89, (i*7919)%10000, (i*104729)%10000),
			BirthDate: birth0.AddDate(0, 0, int((i*37)%22000)).Format(time.DateOnly),
		}
		if err := c.Validate(now); err != nil {
			verr = fmt.Errorf("customer %d is not valid: %w", i, err)
			return nil, verr
		}
		birth, _ := time.Parse(time.DateOnly, c.BirthDate)
		created := sp.start.Add(-24*time.Hour - time.Duration(sz.customers-i)*time.Second)
		active := i == heavyBuyer || i%200 != 17
		return []any{c.Document, c.Name, c.Email, c.Phone, birth, active, created, created}, nil
	})
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"customers"},
		[]string{"document", "name", "email", "phone", "birth_date", "active", "created_at", "updated_at"}, src)
	if err != nil {
		return fmt.Errorf("copy customers: %w", err)
	}
	if n != sz.customers {
		return fmt.Errorf("copy customers: %d rows, want %d", n, sz.customers)
	}
	return nil
}

// discTotals is what the orders of one disc add up to.
type discTotals struct {
	units, back, cancels int64
	lastCancel           *time.Time
}

// copyDiscs reads the orders' totals per disc and writes discs 1..D with the stock and version they imply,
// and each disc's create event.
func copyDiscs(ctx context.Context, s *stack, sz size, sp span) error {
	totals := map[int64]*discTotals{}
	rows, err := s.pool.Query(ctx, `
SELECT disc_id, sum(quantity), COALESCE(sum(quantity) FILTER (WHERE status = 'cancelled'), 0),
       count(*) FILTER (WHERE status = 'cancelled'), max(cancelled_at)
FROM orders GROUP BY disc_id`)
	if err != nil {
		return fmt.Errorf("order totals: %w", err)
	}
	var id int64
	var t discTotals
	if _, err := pgx.ForEachRow(rows, []any{&id, &t.units, &t.back, &t.cancels, &t.lastCancel}, func() error {
		c := t
		totals[id] = &c
		return nil
	}); err != nil {
		return fmt.Errorf("order totals: %w", err)
	}
	now := time.Now()
	var d int64
	var verr error
	var creates [][]any
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if d >= sz.discs || verr != nil {
			return nil, verr
		}
		d++
		t := totals[d]
		if t == nil {
			t = &discTotals{}
		}
		p := price(d)
		dc := model.DiscCreate{
			Name:        adjs[d%int64(len(adjs))] + " " + nouns[(d/int64(len(adjs)))%int64(len(nouns))],
			Artist:      artistFirst[d%int64(len(artistFirst))] + " " + artistLast[(d/7)%int64(len(artistLast))],
			ReleaseYear: int(1950 + d%75),
			Style:       styles[(d/3)%int64(len(styles))],
			PriceCents:  &p,
			Stock:       t.units + leftover(d), // the create event's stock: every unit ever sold was there
		}
		if n := d / int64(len(adjs)*len(nouns)); n > 0 {
			dc.Name += fmt.Sprintf(" Vol. %d", n+1)
		}
		if d == hotDisc {
			dc.Name, dc.Artist, dc.Style, dc.ReleaseYear = "We are Reactive", "Hohpe", "Indie", 2022
			dc.PerCustomerLimit = hotLimit
		}
		if err := dc.Validate(now); err != nil {
			verr = fmt.Errorf("disc %d is not valid: %w", d, err)
			return nil, verr
		}
		startsAt := sp.start.Add(-24*time.Hour - time.Duration(sz.discs-d)*time.Minute)
		created := startsAt.Add(-24 * time.Hour)
		updated := created
		if t.lastCancel != nil && t.lastCancel.After(updated) {
			updated = *t.lastCancel
		}
		stock := dc.Stock - t.units + t.back
		creates = append(creates, []any{d, int64(1), dc.Stock, "create", created, created.Add(10 * time.Millisecond)})
		return []any{dc.Name, dc.Artist, dc.ReleaseYear, dc.Style, p, stock, 1 + t.cancels, startsAt, dc.PerCustomerLimit, false, created, updated}, nil
	})
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"discs"}, []string{"name", "artist", "release_year", "style", "price_cents",
		"stock", "stock_version", "sale_starts_at", "per_customer_limit", "archived", "created_at", "updated_at"}, src)
	if err != nil {
		return fmt.Errorf("copy discs: %w", err)
	}
	if n != sz.discs {
		return fmt.Errorf("copy discs: %d rows, want %d", n, sz.discs)
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"stock_events"},
		[]string{"disc_id", "version", "delta", "reason", "created_at", "applied_at"}, pgx.CopyFromRows(creates)); err != nil {
		return fmt.Errorf("copy create events: %w", err)
	}
	return nil
}

func vacuumAnalyze(ctx context.Context, s *stack) error {
	// Autovacuum would otherwise visit the new tables during the measurements; a shop's tables have been
	// vacuumed long ago. The visibility map it sets lets index-only scans skip the heap.
	var tables []string
	rows, err := s.pool.Query(ctx, `SELECT relname FROM pg_stat_user_tables ORDER BY n_live_tup + n_tup_ins DESC`)
	if err != nil {
		return err
	}
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var stmts []string
	for _, t := range tables {
		stmts = append(stmts, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize())
	}
	if err := runParallel(ctx, s.pool, 2, stmts); err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `CHECKPOINT`)
	return err
}

// check is one verified property of the data or of a run.
type check struct {
	what string
	ok   bool
	got  string
}

// verifyFill checks the history against the shop's rules, in SQL over every row.
func verifyFill(ctx context.Context, s *stack, sz size) ([]check, error) {
	var checks []check
	add := func(what string, ok bool, format string, args ...any) {
		checks = append(checks, check{what: what, ok: ok, got: fmt.Sprintf(format, args...)})
		if !ok {
			logf("  CHECK FAILED: %s: %s", what, fmt.Sprintf(format, args...))
		}
	}
	// The stream check sorts every order: room for it in memory, on a connection of the harness's own pool.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET work_mem = '512MB'`); err != nil {
		return nil, err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `RESET work_mem`) }()
	var nc, maxc, nd, maxd, no int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM customers), (SELECT max(id) FROM customers),
		(SELECT count(*) FROM discs), (SELECT max(id) FROM discs), (SELECT count(*) FROM orders)`).Scan(&nc, &maxc, &nd, &maxd, &no); err != nil {
		return nil, err
	}
	add("rows", nc == sz.customers && maxc == nc && nd == sz.discs && maxd == nd && no == sz.orders,
		"%d customers (ids 1..%d), %d discs (ids 1..%d), %d orders", nc, maxc, nd, maxd, no)

	var broken, negative, badVersion, badCreate, lateSale int64
	if err := conn.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE d.stock <> COALESCE(e.delta, 0) - COALESCE(o.units, 0)),
       count(*) FILTER (WHERE d.stock < 0),
       count(*) FILTER (WHERE d.stock_version IS DISTINCT FROM e.last_version OR e.versions <> e.last_version),
       count(*) FILTER (WHERE e.creates IS DISTINCT FROM 1),
       count(*) FILTER (WHERE o.first_at < d.sale_starts_at)
FROM discs d
LEFT JOIN (SELECT disc_id, sum(delta) AS delta, max(version) AS last_version, count(*) AS versions,
                  count(*) FILTER (WHERE reason = 'create' AND version = 1) AS creates
           FROM stock_events GROUP BY disc_id) e ON e.disc_id = d.id
LEFT JOIN (SELECT disc_id, sum(quantity) AS units, min(reserved_at) AS first_at FROM orders GROUP BY disc_id) o ON o.disc_id = d.id`).
		Scan(&broken, &negative, &badVersion, &badCreate, &lateSale); err != nil {
		return nil, err
	}
	add("ledger identity: stock = sum(stock_events.delta) - sum(orders.quantity), every disc", broken == 0, "%d discs break it", broken)
	add("no negative stock", negative == 0, "%d discs below zero", negative)
	add("stock_version = the last event's version, versions 1..n without gaps", badVersion == 0, "%d discs differ", badVersion)
	add("one create event, version 1, per disc", badCreate == 0, "%d discs without exactly one", badCreate)
	add("no order before its disc's sale started", lateSale == 0, "%d discs with one", lateSale)

	var cancelled, unmatched, strayEvents int64
	if err := conn.QueryRow(ctx, `
SELECT (SELECT count(*) FROM orders WHERE status = 'cancelled'),
       (SELECT count(*) FROM orders o WHERE o.status = 'cancelled' AND o.cancelled_at IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM stock_events e WHERE e.order_id = o.id AND e.reason = 'cancel' AND e.delta = o.quantity AND e.disc_id = o.disc_id)),
       (SELECT count(*) FROM stock_events e JOIN orders o ON o.id = e.order_id WHERE o.status <> 'cancelled')`).
		Scan(&cancelled, &unmatched, &strayEvents); err != nil {
		return nil, err
	}
	add("every cancelled order has its cancel event with its units, and no other order has one", unmatched == 0 && strayEvents == 0,
		"%d cancelled (%.1f%%), %d without their event, %d events of orders not cancelled", cancelled,
		100*float64(cancelled)/float64(max(no, 1)), unmatched, strayEvents)

	var badStream, badID, badPartition int64
	if err := conn.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE (ms, seq) <= (prev_ms, prev_seq) OR reserved_at < prev_at),
       count(*) FILTER (WHERE substr(id::text, 15, 1) <> '7'
                         OR ('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint <> ms
                         OR ms <> (extract(epoch FROM reserved_at) * 1000)::bigint),
       count(*) FILTER (WHERE stream_partition <> disc_id % 16)
FROM (SELECT id, disc_id, stream_partition, reserved_at, ms, seq,
             lag(ms) OVER w AS prev_ms, lag(seq) OVER w AS prev_seq, lag(reserved_at) OVER w AS prev_at
      FROM (SELECT id, disc_id, stream_partition, reserved_at,
                   split_part(stream_id, '-', 1)::bigint AS ms, split_part(stream_id, '-', 2)::bigint AS seq FROM orders) o
      WINDOW w AS (PARTITION BY stream_partition ORDER BY ms, seq)) x`).Scan(&badStream, &badID, &badPartition); err != nil {
		return nil, err
	}
	add("stream ids rise within each partition, with reserved_at", badStream == 0, "%d out of order", badStream)
	add("order ids are UUIDv7 of reserved_at, stream ms = reserved_at", badID == 0, "%d differ", badID)
	add("stream_partition = disc_id mod 16", badPartition == 0, "%d differ", badPartition)

	var overLimit int64
	if err := conn.QueryRow(ctx, `
SELECT count(*) FROM (
    SELECT d.per_customer_limit AS lim, sum(o.quantity) FILTER (WHERE o.status = 'confirmed') AS units
    FROM discs d JOIN orders o ON o.disc_id = d.id WHERE d.per_customer_limit > 0 GROUP BY d.id, o.customer_id) x
WHERE units > lim`).Scan(&overLimit); err != nil {
		return nil, err
	}
	add("no customer holds more units of a disc than its per-customer limit", overLimit == 0, "%d customer-disc pairs above it", overLimit)

	var hot, heavy, idem, buyers int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE disc_id = $1), count(*) FILTER (WHERE customer_id = $2),
		count(*) FILTER (WHERE idempotency_key IS NOT NULL), (SELECT count(DISTINCT customer_id) FROM orders WHERE disc_id = $1) FROM orders`,
		hotDisc, heavyBuyer).Scan(&hot, &heavy, &idem, &buyers); err != nil {
		return nil, err
	}
	add("the hot disc has 10% of the orders, the heavy buyer 1%", hot*10 == no && heavy*100 == no,
		"disc %d: %d orders from %d buyers; customer %d: %d orders; %d with an Idempotency-Key", hotDisc, hot, buyers, heavyBuyer, heavy, idem)
	return checks, nil
}

func joinNames(paths []string) string {
	var names []string
	for _, p := range paths {
		names = append(names, p[strings.LastIndex(p, "/")+1:])
	}
	return strings.Join(names, ", ")
}
