package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/dal/devstack"
	"github.com/learecordshop/recordshop/dal/pg"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// childEnvVar makes the test binary run recordshop instead of the tests: its value is the command line
// ("serve --no-writer"). TestMain reads it.
const childEnvVar = "RECORDSHOP_CHILD"

const (
	faultAdmin      = "fault-admin-token-0001"
	faultStorefront = "fault-storefront-token-01"
	faultPartitions = 16
	discStock       = 100_000
)

// faultEnv is one fault test's own Postgres and Redis (a devstack: the recordshop binary uses the fixed key
// namespace "rs:", and the test restarts servers), the test's clients on them and the recordshop processes it
// started. In the cluster pass (testenv.ClusterPass) its Redis is a cluster of its own, 3 primaries and 3
// replicas, and the processes wait for one replica on every reservation.
type faultEnv struct {
	t        *testing.T
	stack    *devstack.Stack
	cluster  *devstack.Cluster  // nil unless the test runs on a cluster
	sentinel *devstack.Sentinel // nil unless the test runs on a Sentinel-managed primary
	redis    rsredis.Topology
	pool     *pgxpool.Pool
	rdb      goredis.UniversalClient
	keys     rsredis.Keys
	addr     string // where serve listens: 127.0.0.1:port, the same across restarts
	base     string
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	if testenv.ClusterPass() {
		return newFaultEnvOn(t, rsredis.KindCluster)
	}
	return newFaultEnvOn(t, rsredis.KindServer)
}

// newFaultEnvOn is newFaultEnv on the given Redis topology (rsredis.KindServer, KindCluster or KindSentinel),
// whatever the pass: one server of the devstack, or a cluster or Sentinel-managed pair of the test's own.
func newFaultEnvOn(t *testing.T, kind string) *faultEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests start their own Postgres and Redis; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{RedisAOF: true})
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("fault tests need a local Postgres and Redis: %v", err)
		}
		t.Skipf("fault tests need a local Postgres and Redis: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop devstack: %v", err)
		}
	})
	topology := rsredis.Topology{URL: stack.RedisURL}
	var cluster *devstack.Cluster
	var sentinel *devstack.Sentinel
	switch kind {
	case rsredis.KindCluster:
		if cluster, err = devstack.StartCluster(ctx, devstack.ClusterOptions{AOF: true}); err != nil {
			t.Fatalf("a local Redis Cluster: %v", err)
		}
		t.Cleanup(func() {
			if err := cluster.Stop(); err != nil {
				t.Errorf("stop cluster: %v", err)
			}
		})
		topology = rsredis.Topology{Cluster: cluster.Addrs}
	case rsredis.KindSentinel:
		if sentinel, err = devstack.StartSentinel(ctx, devstack.SentinelOptions{AOF: true}); err != nil {
			t.Fatalf("a local Sentinel-managed Redis: %v", err)
		}
		t.Cleanup(func() {
			if err := sentinel.Stop(); err != nil {
				t.Errorf("stop sentinel: %v", err)
			}
		})
		topology = rsredis.Topology{Sentinels: sentinel.SentinelAddrs, Master: sentinel.Master}
	}
	pool, err := pg.Connect(ctx, stack.PGURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb, err := rsredis.Connect(ctx, topology)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	// serve binds this port again on every (re)start, so the test's listener gives it up at once.
	ln := testenv.Listen(t)
	addr := ln.Addr().String()
	_ = ln.Close()
	e := &faultEnv{t: t, stack: stack, cluster: cluster, sentinel: sentinel, redis: topology, pool: pool, rdb: rdb, keys: rsredis.Keys{Namespace: "rs:", Partitions: faultPartitions},
		addr: addr, base: "http://" + addr}
	return e
}

// env is the configuration of every recordshop process of the test; extra ("K=V") overrides it.
func (e *faultEnv) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RS_") && !strings.HasPrefix(kv, childEnvVar+"=") {
			out = append(out, kv)
		}
	}
	out = append(out,
		"RS_PG_URL="+e.stack.PGURL,
		"RS_REDIS_URL="+e.redis.URL,
		"RS_REDIS_CLUSTER_ADDRS="+strings.Join(e.redis.Cluster, ","),
		"RS_REDIS_SENTINEL_ADDRS="+strings.Join(e.redis.Sentinels, ","),
		"RS_REDIS_SENTINEL_MASTER="+e.redis.Master,
		"RS_HTTP_ADDR="+e.addr,
		"RS_ADMIN_TOKENS="+faultAdmin,
		"RS_STOREFRONT_TOKENS="+faultStorefront,
		"RS_PARTITIONS="+strconv.Itoa(faultPartitions),
		"RS_LOG_LEVEL=info",
		"RS_WRITER_CLAIM_IDLE=1s",
	)
	return append(out, extra...)
}

// child is a recordshop process: this test binary re-executed with RECORDSHOP_CHILD set.
type child struct {
	name   string
	cmd    *exec.Cmd
	stderr *logBuffer
	done   chan struct{} // closed when the process has exited
}

// startChild starts `recordshop <args>` and kills it (SIGKILL) when the test ends. It dies with the test process
// too (Pdeathsig), so a test binary that is killed leaves nothing running.
func (e *faultEnv) startChild(args string, extraEnv ...string) *child {
	e.t.Helper()
	c := &child{name: args, stderr: &logBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0])
	c.cmd.Env = append(e.env(extraEnv...), childEnvVar+"="+args)
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		e.t.Fatalf("start recordshop %s: %v", args, err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	e.t.Cleanup(func() {
		c.kill(e.t)
		if e.t.Failed() {
			e.t.Logf("stderr of recordshop %s (pid %d):\n%s", c.name, c.cmd.Process.Pid, c.stderr.tail(40))
		}
	})
	return c
}

// kill sends SIGKILL, as a crash would, and waits for the process to be gone.
func (c *child) kill(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Errorf("recordshop %s did not exit after SIGKILL", c.name)
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// consumer is the writer's name in the consumer group, hostname-pid.
func (c *child) consumer() string {
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(c.cmd.Process.Pid)
}

// startServe starts `recordshop serve` (flags: "--no-writer") and waits until /readyz answers 200.
func (e *faultEnv) startServe(flags string, extraEnv ...string) *child {
	e.t.Helper()
	c := e.startChild(strings.TrimSpace("serve "+flags), extraEnv...)
	testenv.Eventually(e.t, 30*time.Second, "recordshop serve never became ready", func() (bool, string) {
		if c.exited() {
			e.t.Fatalf("recordshop serve exited during start-up:\n%s", c.stderr.tail(20))
		}
		return e.ready()
	})
	return c
}

// ready asks the shop on e.addr whether it is ready; the string says what it answered.
func (e *faultEnv) ready() (bool, string) {
	resp, err := (&http.Client{Timeout: time.Second}).Get(e.base + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, resp.Status
}

// startShopInProcess runs the shop in this process on e.addr over rdb, the way serve does (api.Build, Prepare,
// Run): the API, the stock relay, and the writer when withWriter. It stops it when the test ends, and returns
// the configuration, from which a test builds more writers.
func (e *faultEnv) startShopInProcess(rdb goredis.UniversalClient, withWriter bool) config {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := pg.Migrate(ctx, e.pool); err != nil {
		e.t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.HTTPAddr, cfg.AdminTokens, cfg.StorefrontTokens = e.addr, []string{faultAdmin}, []string{faultStorefront}
	cfg.Partitions, cfg.ClaimIdle = faultPartitions, time.Second
	cfg.RedisURL, cfg.RedisCluster, cfg.RedisSentinels, cfg.RedisMaster = e.redis.URL, e.redis.Cluster, e.redis.Sentinels, e.redis.Master
	ln, err := net.Listen("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = ln.Close() })
	// A second, not serve's 10, for idle keep-alive connections at the stop: the tests leave some behind.
	shop, err := api.Build(cfg.deps(e.pool, rdb, zap.NewNop(), prometheus.NewRegistry()),
		server.WithListener(ln), server.WithExitWaitTime(time.Second))
	if err == nil {
		err = shop.Prepare(ctx)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- shop.Run(ctx, withWriter, 5*time.Second) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("the in-process shop stopped with an error: %v", err)
		}
	})
	// Prepared and listening: the first request waits in the listener's backlog until the server takes it.
	if ok, answer := e.ready(); !ok {
		e.t.Fatalf("/readyz of the in-process shop answered %s; want 200 OK", answer)
	}
	return cfg
}

// createLaunchDisc creates the launch disc through the API (so Redis gets it the way production does), with
// plenty of stock and no per-customer limit, and returns its id.
func (e *faultEnv) createLaunchDisc() int64 {
	e.t.Helper()
	body := fmt.Sprintf(`{"name":"We are Reactive","artist":"Hohpe","release_year":2022,"style":"Indie","price_cents":4990,"stock":%d}`, discStock)
	req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/discs", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+faultAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("create disc: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var d struct {
		ID int64 `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &d) != nil || d.ID == 0 {
		e.t.Fatalf("create disc: %d %s", resp.StatusCode, raw)
	}
	testenv.Eventually(e.t, 10*time.Second, "the disc never reached redis", func() (bool, string) {
		n, err := e.rdb.HGet(context.Background(), e.keys.Disc(d.ID), "avail").Int64()
		return err == nil && n == discStock, fmt.Sprint(n, err)
	})
	return d.ID
}

// createCustomers inserts n customers straight into Postgres (the launch is what is under test).
func (e *faultEnv) createCustomers(n int) []int64 {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `INSERT INTO customers (document, name, email, birth_date)
		SELECT lpad(i::text, 11, '0'), 'Buyer ' || i, 'buyer' || i || '@example.com', '1990-01-01'
		FROM generate_series(1, $1) AS i RETURNING id`, n)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != n {
		e.t.Fatalf("customers: %d of %d, %v", len(ids), n, err)
	}
	return ids
}

// holdWriterInBatch stops the writer inside a batch: a transaction of ours locks the disc's row, so the writer's
// next batch, which has read its entries and is inserting their orders, waits to take their units. It returns
// once a writer statement waits on that lock; release lets it go on.
func (e *faultEnv) holdWriterInBatch(disc int64) (release func()) {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	release = func() {
		if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			e.t.Errorf("release the disc's row: %v", err)
		}
	}
	e.t.Cleanup(release)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM discs WHERE id = $1 FOR UPDATE`, disc); err != nil {
		e.t.Fatal(err)
	}
	testenv.Eventually(e.t, 10*time.Second, "no writer batch waited on the disc's row", func() (bool, string) {
		var n int
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()
			AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO orders%'`).Scan(&n)
		return n > 0, fmt.Sprint(n, " waiting, ", err)
	})
	return release
}

// pendingOf returns how many entries of partition p's stream each consumer holds unacknowledged.
func (e *faultEnv) pendingOf(p int) map[string]int64 {
	e.t.Helper()
	res, err := e.rdb.XPending(context.Background(), e.keys.Stream(p), rsredis.StreamGroup).Result()
	if err != nil {
		e.t.Fatalf("XPENDING: %v", err)
	}
	return res.Consumers
}

// pgOrders counts the orders in Postgres; Postgres may be restarting, so errors count as "not yet".
func (e *faultEnv) pgOrders() (int, error) {
	var n int
	err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n)
	return n, err
}

// verify waits (polling, bounded) until the writer has drained the disc's partition, then checks what a
// launch must leave behind whatever failed during it: every order answered 201 (or replayed with 200) is in
// Postgres exactly once, no other order is, the ledger identity holds for every disc, stock is not negative,
// and Redis' available units equal Postgres' stock.
func (e *faultEnv) verify(l *launch, disc int64) {
	e.t.Helper()
	ctx := context.Background()
	confirmed := l.confirmedIDs()
	p := e.keys.Partition(disc)
	testenv.Eventually(e.t, 45*time.Second, "the writer did not drain", func() (bool, string) {
		n, err := e.pgOrders()
		if err != nil {
			return false, err.Error()
		}
		pending, _ := e.rdb.HLen(ctx, e.keys.Pending(p)).Result()
		stream, _ := e.rdb.XLen(ctx, e.keys.Stream(p)).Result()
		note := fmt.Sprintf("%d of %d confirmed orders in postgres, %d pending in redis, %d stream entries", n, len(confirmed), pending, stream)
		return n >= len(confirmed) && pending == 0 && stream == 0, note
	})

	rows, err := e.pool.Query(ctx, `SELECT id::text FROM orders`)
	if err != nil {
		e.t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		seen[id]++
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	missing, extra := 0, 0
	for id := range confirmed {
		if seen[id] != 1 {
			missing++
			if missing <= 5 {
				e.t.Errorf("confirmed order %s is in postgres %d times", id, seen[id])
			}
		}
	}
	for id := range seen {
		if !confirmed[id] {
			extra++
			if extra <= 5 {
				e.t.Errorf("order %s is in postgres but no client was answered 201 or 200 for it", id)
			}
		}
	}
	if missing+extra > 0 {
		e.t.Errorf("%d confirmed orders not in postgres exactly once, %d orders nobody was told about", missing, extra)
	}

	var bad int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM discs d WHERE d.stock < 0 OR d.stock <>
		COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
		- COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0)`).Scan(&bad); err != nil {
		e.t.Fatal(err)
	}
	if bad != 0 {
		e.t.Errorf("%d discs break the ledger identity stock = sum(delta) - sum(quantity), or have negative stock", bad)
	}
	var stock int64
	if err := e.pool.QueryRow(ctx, `SELECT stock FROM discs WHERE id = $1`, disc).Scan(&stock); err != nil {
		e.t.Fatal(err)
	}
	if want := int64(discStock - len(confirmed)); stock != want {
		e.t.Errorf("postgres stock %d; want %d (%d units, %d orders of 1 confirmed)", stock, want, discStock, len(confirmed))
	}
	avail, err := e.rdb.HGet(ctx, e.keys.Disc(disc), "avail").Int64()
	if err != nil {
		e.t.Fatal(err)
	}
	if avail != stock {
		e.t.Errorf("redis available %d, postgres stock %d; want them equal once drained", avail, stock)
	}
	if pel := e.pendingOf(p); len(pel) != 0 {
		e.t.Errorf("entries still unacknowledged after the drain: %v", pel)
	}
}

// metric reads one unlabelled value from serve's /metrics.
func (e *faultEnv) metric(name string) (string, error) {
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s not in /metrics", name)
}

// logBuffer collects a child's stderr; it is written by exec's copying goroutine and read by the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count is how many log lines contain s.
func (b *logBuffer) count(s string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (b *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// singleRedis skips a test of a fault that only one Redis server has (a proxy on its one address, a stalled
// process) in the cluster pass; the single-Redis pass of the same run has it.
func (e *faultEnv) singleRedis() {
	e.t.Helper()
	if e.redis.Kind() != rsredis.KindServer {
		e.t.Skip("a fault of one Redis server; the cluster pass has the failover tests instead")
	}
}

// killRedis kills Redis as a crash would (SIGKILL): the server, or every node of the cluster.
func (e *faultEnv) killRedis() {
	e.t.Helper()
	if e.cluster == nil {
		if err := e.stack.KillRedis(); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	for _, addr := range e.cluster.Addrs {
		if err := e.cluster.Kill(addr); err != nil {
			e.t.Fatal(err)
		}
	}
}

// startRedis starts what killRedis killed on the same data, and waits until it serves (the cluster: every
// slot served and every primary with its replica).
func (e *faultEnv) startRedis(ctx context.Context) {
	e.t.Helper()
	if e.cluster == nil {
		if err := e.stack.StartRedis(ctx); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	for _, addr := range e.cluster.Addrs {
		if err := e.cluster.Start(ctx, addr); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.cluster.WaitHealthy(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// configSet sets a Redis setting on the server, or on every node of the cluster.
func (e *faultEnv) configSet(ctx context.Context, name, value string) {
	e.t.Helper()
	var err error
	if c, ok := e.rdb.(*goredis.ClusterClient); ok {
		err = c.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error { return n.ConfigSet(ctx, name, value).Err() })
	} else {
		err = e.rdb.ConfigSet(ctx, name, value).Err()
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// reconcile runs `recordshop reconcile args...` in this process with the test's configuration, override
// replacing some of its variables, and returns its exit code and output.
func (e *faultEnv) reconcile(override map[string]string, args ...string) (int, string) {
	e.t.Helper()
	env := map[string]string{}
	for _, kv := range e.env() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	getenv := func(k string) string {
		if v, ok := override[k]; ok {
			return v
		}
		return env[k]
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"reconcile"}, args...), getenv, &out, &errOut)
	var exit *exitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.code, out.String() + errOut.String()
	}
	e.t.Fatalf("reconcile returned %v, not an exit code", err)
	return -1, ""
}
