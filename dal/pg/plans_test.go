package pg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// The history the plan tests run on. Most customers and discs have fewer orders than a page, which is what a
// prepared statement's generic plan assumes of everyone; one heavy buyer and one hot disc have a hundred
// pages each. The last orders arrive after the last VACUUM, as between two autovacuums of a busy shop.
const (
	historyOrders     = 60_000
	historyVacuumed   = 50_000
	historyCustomers  = 6_000 // 10 orders each on average
	historyDiscs      = 3_000 // 20 each
	heavyEvery        = 30    // every 30th order is the heavy buyer's (2,000), the one after it the hot disc's
	historyPartitions = 4
	pageSize          = 20
)

var historyStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// historyAt is when order i of the history was reserved: one every 10 s.
func historyAt(i int) time.Time { return historyStart.Add(time.Duration(i) * 10 * time.Second) }

// fillOrders writes orders first..last of the history. One in 21 is cancelled. Every 50th came through the
// Postgres-only path and has no stream position; the others are spread over the partitions in order.
const fillOrders = `
INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, status, reserved_at,
                    stream_partition, stream_id)
SELECT md5('order ' || i)::uuid,
       CASE WHEN i % $3 = 0 THEN c.first ELSE c.first + 1 + i % ($4 - 1) END,
       CASE WHEN i % $3 = 1 THEN d.first ELSE d.first + 1 + i % ($5 - 1) END,
       1, 1000,
       CASE WHEN i % 21 = 0 THEN 'cancelled' ELSE 'confirmed' END,
       $6::timestamptz + i * interval '10 seconds',
       CASE WHEN i % 50 <> 0 THEN i % $7 END,
       CASE WHEN i % 50 <> 0 THEN (1700000000000 + i / 10) || '-' || i % 10 END
FROM generate_series($1::int, $2::int) AS i,
     (SELECT min(id) AS first FROM customers) c,
     (SELECT min(id) AS first FROM discs) d`

// history is a database with a long order history, and a pool that remembers the last statement it sent.
type history struct {
	pool       *pgxpool.Pool
	sent       *lastStatement
	url        string
	heavy, hot int64
}

func fillHistory(t *testing.T) history {
	t.Helper()
	ctx := context.Background()
	url := testenv.PGURL(t)
	cfg, err := pg.PoolConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	sent := &lastStatement{}
	cfg.ConnConfig.Tracer = sent
	// VACUUM marks a page all-visible only once the commits of its rows are flushed, which the devstack's
	// asynchronous commits leave to later: these commits wait, so that the history is vacuumed as a shop's is.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	start := time.Now()
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO customers (document, name, email, birth_date)
		  SELECT lpad(i::text, 11, '0'), 'Buyer ' || i, 'buyer' || i || '@example.com', date '1990-01-01'
		  FROM generate_series(1, $1::int) AS i`, []any{historyCustomers}},
		{`INSERT INTO discs (name, artist, release_year, style, price_cents, stock)
		  SELECT 'Disc ' || i, 'Artist ' || i, 2000, 'Rock', 1000, 0 FROM generate_series(1, $1::int) AS i`,
			[]any{historyDiscs}},
		{fillOrders, []any{1, historyVacuumed, heavyEvery, historyCustomers, historyDiscs, historyStart, historyPartitions}},
		{`VACUUM ANALYZE customers, discs, orders`, nil},
		{fillOrders, []any{historyVacuumed + 1, historyOrders, heavyEvery, historyCustomers, historyDiscs, historyStart,
			historyPartitions}},
		{`ANALYZE orders`, nil},
	} {
		if _, err := pool.Exec(ctx, step.sql, step.args...); err != nil {
			t.Fatalf("fill: %v\n%s", err, step.sql)
		}
	}
	t.Logf("history of %d orders filled and analysed in %v", historyOrders, time.Since(start).Round(time.Millisecond))

	h := history{pool: pool, sent: sent, url: url}
	var visible float64
	if err := pool.QueryRow(ctx, `SELECT (SELECT min(id) FROM customers), (SELECT min(id) FROM discs),
		(SELECT relallvisible::float8 / relpages FROM pg_class WHERE oid = 'orders'::regclass)`).Scan(&h.heavy, &h.hot, &visible); err != nil {
		t.Fatal(err)
	}
	// The plans rest on index-only scans, which Postgres costs by how much of the table is all-visible.
	if visible < 0.75 {
		t.Fatalf("only %.0f%% of the orders' pages are all-visible after VACUUM; want most, as autovacuum keeps a shop's", 100*visible)
	}
	return h
}

// TestOrderPlansReadOnePage proves that the order lists and the stream positions read at start-up cost a page,
// however long the history of the customer or disc asked about: each query the repository sends, prepared as
// pgx prepares every statement, reads through the index that matches its filter and order, never sorts, and
// reads about as many index entries as it returns. It checks both the generic plan Postgres switches a
// prepared statement to (made for an average customer) and the custom plan made for the heavy one.
func TestOrderPlansReadOnePage(t *testing.T) {
	ctx := context.Background()
	h := fillHistory(t)
	orders := pg.NewOrders(h.pool)

	from, to := historyAt(20_000), historyAt(40_000)
	// A cursor fifty pages deep into the heavy buyer's orders.
	var deepAt time.Time
	var deepID string
	if err := h.pool.QueryRow(ctx, `SELECT reserved_at, id::text FROM orders WHERE customer_id = $1
		ORDER BY reserved_at DESC, id DESC OFFSET 1000 LIMIT 1`, h.heavy).Scan(&deepAt, &deepID); err != nil {
		t.Fatal(err)
	}
	after := model.Cursor{Sort: "-reserved_at", Value: model.CursorTime(deepAt), OrderID: deepID}

	shapes := []struct {
		name  string
		q     model.OrderQuery
		index string
	}{
		{"customer", model.OrderQuery{CustomerID: h.heavy}, "orders_customer_recent"},
		{"customer from to", model.OrderQuery{CustomerID: h.heavy, From: &from, To: &to}, "orders_customer_recent"},
		{"customer status", model.OrderQuery{CustomerID: h.heavy, Status: model.StatusConfirmed}, "orders_customer_recent"},
		{"customer after cursor", model.OrderQuery{CustomerID: h.heavy, After: &after}, "orders_customer_recent"},
		{"disc", model.OrderQuery{DiscID: h.hot}, "orders_disc_recent"},
		{"disc status", model.OrderQuery{DiscID: h.hot, Status: model.StatusConfirmed}, "orders_disc_recent"},
	}
	explainer := connect(t, h.url)
	for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
		for _, s := range shapes {
			t.Run(mode+"/"+s.name, func(t *testing.T) {
				s.q.Limit = pageSize
				list, err := orders.List(ctx, s.q)
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Items) != pageSize || list.Next == nil {
					t.Fatalf("List(%+v) gave %d orders (next %v); want a full page and a next one", s.q, len(list.Items), list.Next)
				}
				sql, args := h.sent.get()
				plan := explainPrepared(t, explainer, mode, sql, args)
				assertReadsOnePage(t, plan, s.index, pageSize+1)
			})
		}
	}

	t.Run("last stream ids", func(t *testing.T) {
		got, err := orders.LastStreamIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]string{}
		for i := historyOrders; len(want) < historyPartitions; i-- {
			if _, seen := want[i%historyPartitions]; !seen && i%50 != 0 {
				want[i%historyPartitions] = fmt.Sprintf("%d-%d", 1700000000000+i/10, i%10)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("LastStreamIDs (-want +got):\n%s", diff)
		}
		sql, _ := h.sent.get()
		plan := explain(t, explainer, sql)
		problems := unordered(plan)
		var read float64
		walk(plan, func(n planNode) {
			if n.IndexName == "orders_stream_position" {
				read += n.ActualRows*n.ActualLoops + n.RowsRemovedByFilter
			}
		})
		if read == 0 || read > 2*(historyPartitions+1) {
			problems = append(problems, fmt.Sprintf("%v entries of orders_stream_position read", read))
		}
		if len(problems) > 0 {
			t.Errorf("LastStreamIDs plan has %s; want one probe of orders_stream_position per partition (%d):\n%s",
				strings.Join(problems, ", "), historyPartitions, describe(plan))
		}
	})
}

// assertReadsOnePage checks that plan reads the page through index, in its order (no sort, no bitmap), and
// reads no more than twice the page's rows from it.
func assertReadsOnePage(t *testing.T, plan planNode, index string, page int) {
	t.Helper()
	problems := unordered(plan)
	read := -1.0
	walk(plan, func(n planNode) {
		if n.IndexName == index && read < 0 {
			read = n.ActualRows*n.ActualLoops + n.RowsRemovedByFilter
		}
	})
	switch {
	case read < 0:
		problems = append(problems, "no scan of "+index)
	case read > float64(2*page):
		problems = append(problems, fmt.Sprintf("%v entries of %s read for a page of %d", read, index, page))
	}
	if len(problems) > 0 {
		t.Errorf("plan has %s; want the page read from %s in its order:\n%s", strings.Join(problems, ", "), index, describe(plan))
	}
}

// unordered names the nodes of plan that read more than the rows they return: sorts, bitmap scans (which
// gather every match before the first row) and sequential scans.
func unordered(plan planNode) []string {
	var found []string
	walk(plan, func(n planNode) {
		if strings.Contains(n.NodeType, "Sort") || strings.HasPrefix(n.NodeType, "Bitmap") || n.NodeType == "Seq Scan" {
			found = append(found, "a "+n.NodeType)
		}
	})
	return found
}

// planNode is one node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType            string     `json:"Node Type"`
	RelationName        string     `json:"Relation Name"`
	IndexName           string     `json:"Index Name"`
	ScanDirection       string     `json:"Scan Direction"`
	ActualRows          float64    `json:"Actual Rows"`
	ActualLoops         float64    `json:"Actual Loops"`
	RowsRemovedByFilter float64    `json:"Rows Removed by Filter"`
	Plans               []planNode `json:"Plans"`
}

func walk(n planNode, visit func(planNode)) {
	visit(n)
	for _, c := range n.Plans {
		walk(c, visit)
	}
}

// describe draws a plan as one line a node, with what each read.
func describe(n planNode) string {
	var b strings.Builder
	var draw func(planNode, int)
	draw = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", depth), n.NodeType)
		if n.ScanDirection == "Backward" {
			b.WriteString(" Backward")
		}
		if n.IndexName != "" {
			fmt.Fprintf(&b, " using %s", n.IndexName)
		} else if n.RelationName != "" {
			fmt.Fprintf(&b, " on %s", n.RelationName)
		}
		fmt.Fprintf(&b, " (rows %v x %v loops", n.ActualRows, n.ActualLoops)
		if n.RowsRemovedByFilter > 0 {
			fmt.Fprintf(&b, ", %v removed by filter", n.RowsRemovedByFilter)
		}
		b.WriteString(")\n")
		for _, c := range n.Plans {
			draw(c, depth+1)
		}
	}
	draw(n, 0)
	return b.String()
}

// connect opens a connection of its own to url, for session settings that must not reach a pool.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	cfg, err := pg.PoolConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// explainPrepared prepares sql as pgx does (a named statement) and runs it once through EXPLAIN ANALYZE with
// args, planned as mode (plan_cache_mode) says. Postgres 15 has no EXPLAIN (GENERIC_PLAN): a prepared statement
// under force_generic_plan is how to see the plan that every customer shares.
func explainPrepared(t *testing.T, conn *pgx.Conn, mode, sql string, args []any) planNode {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT set_config('plan_cache_mode', $1, false)`, mode); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Prepare(ctx, "page", sql); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := conn.Deallocate(ctx, "page"); err != nil {
			t.Error(err)
		}
	}()
	// EXECUTE takes its parameters as SQL text; each is a quoted literal of the value List passed, which the
	// statement's parameter types then read.
	literals := make([]string, len(args))
	for i, a := range args {
		var text string
		switch v := a.(type) {
		case time.Time:
			text = v.Format(time.RFC3339Nano)
		case int64:
			text = strconv.FormatInt(v, 10)
		case string:
			text = v
		default:
			t.Fatalf("argument %d is a %T; teach explainPrepared to write it", i+1, a)
		}
		literals[i] = "'" + strings.ReplaceAll(text, "'", "''") + "'"
	}
	return explain(t, conn, "EXECUTE page("+strings.Join(literals, ", ")+")")
}

// explain runs EXPLAIN ANALYZE of a statement without parameters and returns the root of its plan.
func explain(t *testing.T, conn *pgx.Conn, sql string) planNode {
	t.Helper()
	var out []byte
	if err := conn.QueryRow(context.Background(), "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF, FORMAT JSON) "+sql,
		pgx.QueryExecModeSimpleProtocol).Scan(&out); err != nil {
		t.Fatalf("explain: %v\n%s", err, sql)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	return plans[0].Plan
}

// lastStatement is a pgx tracer that remembers the last statement sent and its arguments: the tests explain
// exactly what the repository sends.
type lastStatement struct {
	mu   sync.Mutex
	sql  string
	args []any
}

func (l *lastStatement) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sql, l.args = d.SQL, d.Args
	return ctx
}

func (l *lastStatement) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *lastStatement) get() (string, []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sql, l.args
}
