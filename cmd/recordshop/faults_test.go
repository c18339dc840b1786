package main

// The fault tests (issue 4): each runs a launch against a real Postgres and Redis of its own, breaks one part
// of the system in the middle of it, lets it recover, and then checks what the durability contract promises:
// every order a buyer was told about (201, or 200 replaying a lost answer) is in Postgres exactly once, no
// other order is, the ledger identity holds, and Redis' available units equal Postgres' stock.
//
// recordshop processes are this test binary re-executed: TestMain runs the command in RECORDSHOP_CHILD
// instead of the tests, so SIGKILL hits a real process with real sockets and no separate build is needed.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/api"
	"github.com/learecordshop/recordshop/biz/model"
	rsredis "github.com/learecordshop/recordshop/dal/redis"
	"github.com/learecordshop/recordshop/dal/testenv"
)

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnvVar); args != "" {
		os.Exit(runChild(strings.Fields(args)))
	}
	hlog.SetLevel(hlog.LevelWarn) // the in-process shop's Hertz announces its listener and shutdown at info
	os.Exit(m.Run())
}

// runChild is main for a recordshop child process of a fault test.
func runChild(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "recordshop:", err)
		return 1
	}
	return 0
}

const (
	launchRate    = 300 // orders per second
	launchBuyers  = 200
	flushFailLine = "writer cannot flush to postgres"
	readFailLine  = "writer cannot read its stream"
	recoveredLine = "writer recovered"
	outageLine    = "; retrying with backoff" // the end of every first-failure line of the writer
)

// TestFaultWriterKilledMidBatch kills a `recordshop writer` (SIGKILL) while it is inside a batch, beside a
// `serve --no-writer` that keeps selling, and starts another writer process, which takes the dead one's entries
// over after RS_WRITER_CLAIM_IDLE.
func TestFaultWriterKilledMidBatch(t *testing.T) {
	e := newFaultEnv(t)
	e.startServe("--no-writer")
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	p := e.keys.Partition(disc)
	writer := e.startChild("writer")
	l := startLaunch(t, e.base, disc, buyers, launchRate, 5*time.Second)
	testenv.Eventually(t, 20*time.Second, "the writer did not flush 200 orders", func() (bool, string) {
		n, err := e.pgOrders()
		return n >= 200, fmt.Sprint(n, " orders ", err)
	})

	release := e.holdWriterInBatch(disc)
	dead := writer.consumer()
	held := e.pendingOf(p)[dead]
	writer.kill(t)
	release()
	if held == 0 {
		t.Fatalf("the writer was killed inside a batch but held no unacknowledged entries")
	}
	if got := e.pendingOf(p)[dead]; got != held {
		t.Fatalf("after the kill the dead writer holds %d entries; want the %d it had read", got, held)
	}

	// Postgres does not notice a dead client while its statement waits on a lock: once the lock goes, the dead
	// writer's batch may still commit, which makes the takeover below a redelivery of orders already in
	// Postgres. Either way the end state must be the same; the log says which happened.
	ctx := context.Background()
	unacked, err := e.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: e.keys.Stream(p), Group: rsredis.StreamGroup,
		Start: "-", End: "+", Count: 100_000, Consumer: dead}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var heldIDs []string
	for _, u := range unacked {
		heldIDs = append(heldIDs, u.ID)
	}
	// The batch is one statement: once the lock goes it runs to its end, committed or not. Wait for that end
	// (no other client inserts orders now), then look at what it left.
	testenv.Eventually(t, 10*time.Second, "the dead writer's batch never ended in postgres", func() (bool, string) {
		var n int
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()
			AND state <> 'idle' AND query LIKE '%INSERT INTO orders%'`).Scan(&n)
		return err == nil && n == 0, fmt.Sprint(n, " still running, ", err)
	})
	var inPG int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE stream_id = ANY($1)`, heldIDs).Scan(&inPG); err != nil {
		t.Fatal(err)
	}
	committedAfterDeath := inPG == len(heldIDs)

	next := e.startChild("writer")
	testenv.Eventually(t, 20*time.Second, "the new writer did not take over the dead one's entries", func() (bool, string) {
		pel := e.pendingOf(p)
		return pel[dead] == 0, fmt.Sprint(pel)
	})
	l.wait()
	e.verify(l, disc)
	if next.stderr.count("claimed abandoned order entries") == 0 {
		t.Errorf("the new writer never logged that it claimed the dead writer's entries")
	}
	t.Logf("writer %s was killed holding %d unacknowledged entries (its batch committed after its death: %v); writer %s took them over",
		dead, held, committedAfterDeath, next.consumer())
}

// TestFaultCrashBetweenCommitAndAck makes the writer crash in the one window where Postgres has a batch and
// Redis still thinks it is unwritten: after the commit, before XACK (WriterConfig.AfterCommit). A new writer
// under the same consumer name re-reads its history, gets the same entries again, and they change nothing.
// The shop runs in-process here: the hook is a Go function.
func TestFaultCrashBetweenCommitAndAck(t *testing.T) {
	e := newFaultEnv(t)
	ctx := context.Background()
	cfg := e.startShopInProcess(e.rdb, false) // the stock relay runs; the writers come below
	log := zap.NewNop()
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	p := e.keys.Partition(disc)

	const consumer = "fault-writer-1"
	errCrash := errors.New("injected crash between commit and acknowledge")
	var armed atomic.Bool
	crashed := make(chan []string, 1)
	regA := prometheus.NewRegistry()
	depsA := cfg.deps(e.pool, e.rdb, log, regA)
	depsA.Writer.Consumer = consumer
	depsA.Writer.AfterCommit = func(_ int, ids []string) error {
		if len(ids) >= 20 && armed.CompareAndSwap(true, false) {
			crashed <- slices.Clone(ids)
			return errCrash
		}
		return nil
	}
	writerA, err := api.NewWriter(ctx, depsA)
	if err != nil {
		t.Fatal(err)
	}
	ctxA, stopA := context.WithCancel(ctx)
	defer stopA()
	doneA := make(chan error, 1)
	go func() { doneA <- writerA.Run(ctxA) }()

	l := startLaunch(t, e.base, disc, buyers, launchRate, 4*time.Second)
	l.waitAnswered(300)
	// Crash on a batch of some size: hold the writer a moment so that orders pile up for its next read.
	armed.Store(true)
	release := e.holdWriterInBatch(disc)
	l.waitAnswered(l.answered.Load() + 100)
	release()
	var ids []string
	select {
	case ids = <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer committed no batch in 10s after the hook was armed")
	}
	// The crashed partition stopped at once; the others stop with the context, and Run reports the crash.
	stopA()
	select {
	case err := <-doneA:
		if !errors.Is(err, errCrash) {
			t.Errorf("Writer.Run returned %v; want an error wrapping the AfterCommit error %q", err, errCrash)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Writer.Run did not return after the crash")
	}

	// The window: the batch is in Postgres, and still unacknowledged in Redis.
	var inPG int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE stream_id = ANY($1)`, ids).Scan(&inPG); err != nil {
		t.Fatal(err)
	}
	unacked, err := e.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: e.keys.Stream(p), Group: rsredis.StreamGroup,
		Start: "-", End: "+", Count: 100_000, Consumer: consumer}).Result()
	if err != nil {
		t.Fatal(err)
	}
	pel := map[string]bool{}
	for _, u := range unacked {
		pel[u.ID] = true
	}
	for _, id := range ids {
		if !pel[id] {
			t.Fatalf("entry %s of the crashed batch was acknowledged; the crash must come before XACK", id)
		}
	}
	if inPG != len(ids) {
		t.Fatalf("%d of the crashed batch's %d orders are in postgres; the crash must come after the commit", inPG, len(ids))
	}

	var mu sync.Mutex
	redelivered := map[string]bool{}
	regB := prometheus.NewRegistry()
	depsB := cfg.deps(e.pool, e.rdb, log, regB)
	depsB.Writer.Consumer = consumer
	depsB.Writer.AfterCommit = func(_ int, ids []string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			redelivered[id] = true
		}
		return nil
	}
	writerB, err := api.NewWriter(ctx, depsB)
	if err != nil {
		t.Fatal(err)
	}
	ctxB, stopB := context.WithCancel(ctx)
	doneB := make(chan error, 1)
	go func() { doneB <- writerB.Run(ctxB) }()
	defer func() {
		stopB()
		if err := <-doneB; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("second writer: %v", err)
		}
	}()

	l.wait()
	e.verify(l, disc)
	mu.Lock()
	for _, id := range ids {
		if !redelivered[id] {
			t.Errorf("entry %s of the crashed batch was never delivered to the new writer", id)
		}
	}
	mu.Unlock()
	// Every confirmed order was inserted once: by writer A (counted), by A's crashed batch (not counted: the
	// crash came before the metrics), or by writer B. The redelivered batch inserted nothing.
	flushedA, flushedB := counter(t, regA, "recordshop_writer_orders_flushed_total"), counter(t, regB, "recordshop_writer_orders_flushed_total")
	confirmed := len(l.confirmedIDs())
	if int(flushedA+flushedB) != confirmed-len(ids) {
		t.Errorf("writers flushed %v + %v orders; want %d (%d confirmed less the crashed batch of %d, inserted before the crash)",
			flushedA, flushedB, confirmed-len(ids), confirmed, len(ids))
	}
	t.Logf("crashed after committing a batch of %d entries; the same consumer got them again and inserted nothing; flushed %v before, %v after",
		len(ids), flushedA, flushedB)
}

// counter reads a counter from a registry.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// TestFaultServeKilled kills `recordshop serve` (SIGKILL, with its in-process writer inside a batch) in the
// middle of a launch and starts it again on the same port; buyers retry through the gap with their
// Idempotency-Keys, and the new process (a new consumer: hostname-pid) takes over the dead writer's entries.
func TestFaultServeKilled(t *testing.T) {
	e := newFaultEnv(t)
	serve := e.startServe("")
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	p := e.keys.Partition(disc)
	l := startLaunch(t, e.base, disc, buyers, launchRate, 5*time.Second)
	l.waitAnswered(400)
	release := e.holdWriterInBatch(disc) // so the kill lands inside a batch of the in-process writer too
	held := e.pendingOf(p)[serve.consumer()]
	serve.kill(t)
	killedAt := time.Now()
	release()
	if held == 0 {
		t.Fatalf("serve's writer was killed inside a batch but held no unacknowledged entries")
	}
	before := l.retries.Load()
	testenv.Eventually(t, 10*time.Second, "buyers did not retry against the dead server", func() (bool, string) {
		return l.retries.Load()-before >= 20, fmt.Sprint(l.retries.Load()-before, " retries")
	})
	next := e.startServe("")
	gap := time.Since(killedAt)
	l.wait()
	e.verify(l, disc)
	if next.stderr.count("claimed abandoned order entries") == 0 {
		t.Errorf("the restarted serve's writer never logged that it claimed the dead one's entries")
	}
	if l.retries.Load() == 0 {
		t.Errorf("no buyer retried; the kill was not felt")
	}
	t.Logf("serve was down %v; its writer left %d unacknowledged entries to the next one", gap.Round(time.Millisecond), held)
}

// TestFaultPostgresRestart stops Postgres in the middle of a launch and starts it again. In Redis mode the
// shop keeps confirming orders while Postgres is down (the buyers are known, so the order path needs only
// Redis); the writer retries with backoff, says so once, and says once that it recovered.
func TestFaultPostgresRestart(t *testing.T) {
	e := newFaultEnv(t)
	serve := e.startServe("")
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	l := startLaunch(t, e.base, disc, buyers, launchRate, 6*time.Second)
	l.waitAnswered(2 * launchBuyers) // every buyer has bought once: the API knows them all

	if err := e.stack.StopPostgres(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	c0 := l.confirms.Load()
	var flushFailSeen time.Time
	// Hold the outage until the writer has failed and backed off for a while (50 ms doubling: about five
	// attempts in 1.5 s) and the shop has kept confirming orders.
	testenv.Eventually(t, 15*time.Second, "while postgres was down, the shop did not go on confirming orders with its writer failing", func() (bool, string) {
		if flushFailSeen.IsZero() && serve.stderr.count(flushFailLine) > 0 {
			flushFailSeen = time.Now()
		}
		during := l.confirms.Load() - c0
		return !flushFailSeen.IsZero() && time.Since(flushFailSeen) > 1500*time.Millisecond && during >= 150,
			fmt.Sprintf("%d confirmed, writer failure logged: %v", during, !flushFailSeen.IsZero())
	})
	during := l.confirms.Load() - c0
	outage := time.Since(down)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.stack.StartPostgres(ctx); err != nil {
		t.Fatal(err)
	}
	l.wait()
	e.verify(l, disc)
	if n := serve.stderr.count(flushFailLine); n != 1 {
		t.Errorf("%q logged %d times in one outage; want once", flushFailLine, n)
	}
	if n := serve.stderr.count(recoveredLine); n != 1 {
		t.Errorf("%q logged %d times after one outage; want once", recoveredLine, n)
	}
	t.Logf("postgres was down %v; %d orders were confirmed meanwhile", outage.Round(time.Millisecond), during)
}

// TestFaultRedisRestart kills Redis (AOF on) in the middle of a launch, keeps it down a moment (go-redis retries
// a failed command a few times within about 100 ms, which would hide a quicker restart from everyone) and starts
// it again on the same port and data.
//
// Redis 7.0 with appendfsync everysec may postpone the AOF write() while a background fsync is slow and still
// answer the client, so even a process kill can lose a second or two of acknowledged writes; that window is
// Redis' own and is the one the durability contract prices for a power loss. This test is about recordshop
// surviving the crash, so it turns on appendfsync always first (every command is in the AOF before its reply)
// and then kills with SIGKILL: a kill, unlike a graceful SHUTDOWN, cuts every connection in the middle of
// whatever it was doing, the harder case for the order path and the writer.
func TestFaultRedisRestart(t *testing.T) {
	e := newFaultEnv(t)
	serve := e.startServe("")
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	l := startLaunch(t, e.base, disc, buyers, launchRate, 5*time.Second)
	l.waitAnswered(400)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.configSet(ctx, "appendfsync", "always")
	confirmedBefore := l.confirms.Load()
	e.killRedis()
	down := time.Now()
	retriesBefore := l.retries.Load()
	testenv.Eventually(t, 10*time.Second, "while redis was down, buyers did not retry or the writer did not fail", func() (bool, string) {
		retries, logged := l.retries.Load()-retriesBefore, serve.stderr.count(outageLine)
		return retries >= 20 && logged > 0, fmt.Sprintf("%d retries, writer failure logged %d times", retries, logged)
	})
	e.startRedis(ctx)
	outage := time.Since(down)
	l.wait()
	e.verify(l, disc)
	// Not "once": for about a second after Redis is back, go-redis' pool still answers some dials with the
	// error it cached, so partitions fail and succeed by turns and the writer's shared outage state flaps.
	failed, recovered := serve.stderr.count(outageLine), serve.stderr.count(recoveredLine)
	if failed == 0 || recovered == 0 {
		t.Errorf("the writer logged an outage %d times and %q %d times; want both", failed, recoveredLine, recovered)
	}
	t.Logf("redis killed after %d confirmed orders, down %v, restarted from its AOF; the writer logged the outage %d times (%q %d, %q %d), recovery %d times",
		confirmedBefore, outage.Round(time.Millisecond), failed, readFailLine, serve.stderr.count(readFailLine),
		flushFailLine, serve.stderr.count(flushFailLine), recovered)
}

// TestFaultPoisonEntryDeadLettered puts two entries Postgres can never take into the launch's partition stream:
// an order of a customer that does not exist (a foreign key violation) and a record that cannot be read. Both
// end in the partition's dead-letter stream, and the partition's orders keep reaching Postgres.
func TestFaultPoisonEntryDeadLettered(t *testing.T) {
	e := newFaultEnv(t)
	serve := e.startServe("")
	disc := e.createLaunchDisc()
	buyers := e.createCustomers(launchBuyers)
	p := e.keys.Partition(disc)
	l := startLaunch(t, e.base, disc, buyers, launchRate, 4*time.Second)
	l.waitAnswered(300)

	ctx := context.Background()
	poison := rsredis.Record(model.Order{ID: uuid.Must(uuid.NewV7()), CustomerID: 999_999_999, DiscID: disc, Quantity: 1,
		UnitPriceCents: 4990, ReservedAt: time.Now()})
	const junk = "this is not an order record"
	poisonEntry, err := e.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: e.keys.Stream(p), Values: map[string]any{"o": poison}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	junkEntry, err := e.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: e.keys.Stream(p), Values: map[string]any{"o": junk}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the two entries did not reach the dead letters", func() (bool, string) {
		n, err := e.rdb.XLen(ctx, e.keys.DeadLetters(p)).Result()
		return n >= 2, fmt.Sprint(n, err)
	})
	l.wait()
	e.verify(l, disc)

	dead, err := e.rdb.XRange(ctx, e.keys.DeadLetters(p), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, d := range dead {
		got[fmt.Sprint(d.Values["entry"])] = d.Values
	}
	if len(dead) != 2 || got[poisonEntry] == nil || got[junkEntry] == nil {
		t.Fatalf("dead letters %v; want exactly entries %s and %s", dead, poisonEntry, junkEntry)
	}
	for _, c := range []struct {
		entry, record, because string
	}{{poisonEntry, poison, "23503"}, {junkEntry, junk, "order record"}} {
		d := got[c.entry]
		if d["o"] != c.record || !strings.Contains(fmt.Sprint(d["error"]), c.because) {
			t.Errorf("dead letter of %s: %v; want o=%q and an error naming %q", c.entry, d, c.record, c.because)
		}
	}
	if v, err := e.metric("recordshop_writer_dead_letters_total"); err != nil || v != "2" {
		t.Errorf("recordshop_writer_dead_letters_total = %q (%v); want 2", v, err)
	}
	if n := serve.stderr.count("order moved to the dead letters"); n != 2 {
		t.Errorf("%d dead-letter log lines; want 2", n)
	}
	t.Logf("2 entries dead-lettered in partition %d while %d orders of the launch reached postgres", p, len(l.confirmedIDs()))
}
